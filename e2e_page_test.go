package main_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The terminal page's features through the real binary, in headless
// Chromium: file transfer (ZMODEM with lrzsz, trzsz with trz/tsz), the
// phone key bar, the clipboard and images. Each runs one test of
// static/tests/page.browser.mjs.

// trzszDir is where .ci/run installs trz and tsz (Debian does not package
// them): `go install` of github.com/trzsz/trzsz-go's cmd/trz and cmd/tsz.
const trzszDir = ".ci/tools"

// runPageTest runs page.browser.mjs TEST ARGS against s and fails the test
// unless the script passes.
func runPageTest(t *testing.T, node string, s *server, test string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join("static", "tests", "page.browser.mjs"), s.HTTPURL("/"), test}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	t.Logf("page.browser.mjs %s:\n%s", test, out)
	if err != nil || !strings.Contains(string(out), "ok "+test+" passed") {
		t.Fatalf("browser test %s: %v\nserver log:\n%s", test, err, s.Stderr())
	}
	return string(out)
}

// randomFile writes n random bytes to dir/name and returns its path and
// SHA-256.
func randomFile(t *testing.T, dir, name string, n int) (string, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return p, hex.EncodeToString(sum[:])
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// transferShell starts a writable bash in a fresh directory, with PATH
// reaching rz/sz and trz/tsz, and extra flags.
func transferShell(t *testing.T, extra ...string) (*server, string) {
	t.Helper()
	cwd := t.TempDir()
	tools, _ := filepath.Abs(trzszDir)
	env := []string{"PS1=$ ", "LANG=C.UTF-8", "PATH=" + tools + ":" + os.Getenv("PATH")}
	args := append([]string{"--terminal", "--writable", "--passenv=PATH,PS1,LANG", "--cwd=" + cwd}, extra...)
	args = append(args, "bash", "--norc", "--noprofile", "-i")
	return startServerEnv(t, env, args...), cwd
}

func needTrzsz(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"trz", "tsz"} {
		if _, err := os.Stat(filepath.Join(trzszDir, tool)); err != nil {
			skipUnlessCI(t, "trz/tsz not in "+trzszDir+" (.ci/run installs them with go install github.com/trzsz/trzsz-go/cmd/...)")
		}
	}
}

func TestPageZmodemDownload(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	need(t, "sz", "ZMODEM downloads (apt-get install -y lrzsz)")
	s, cwd := transferShell(t)
	_, sum := randomFile(t, cwd, "random.bin", 10<<20)
	runPageTest(t, node, s, "zmodem-download", "random.bin", sum)
}

func TestPageZmodemUpload(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	need(t, "rz", "ZMODEM uploads (apt-get install -y lrzsz)")
	s, cwd := transferShell(t)
	local, sum := randomFile(t, t.TempDir(), "upload.bin", 10<<20)
	runPageTest(t, node, s, "zmodem-upload", local)
	if got := fileSHA256(t, filepath.Join(cwd, "upload.bin")); got != sum {
		t.Fatalf("rz wrote a file with SHA-256 %s, want %s", got, sum)
	}
}

func TestPageZmodemCancel(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	need(t, "sz", "ZMODEM downloads (apt-get install -y lrzsz)")
	s, cwd := transferShell(t)
	randomFile(t, cwd, "big.bin", 16<<20)
	runPageTest(t, node, s, "zmodem-cancel", "big.bin")
}

func TestPageTrzszDownload(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	needTrzsz(t)
	s, cwd := transferShell(t)
	_, sum := randomFile(t, cwd, "random.bin", 10<<20)
	runPageTest(t, node, s, "trzsz-download", "random.bin", sum)
}

func TestPageTrzszUpload(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	needTrzsz(t)
	s, cwd := transferShell(t)
	local, sum := randomFile(t, t.TempDir(), "upload.bin", 10<<20)
	runPageTest(t, node, s, "trzsz-upload", local)
	if got := fileSHA256(t, filepath.Join(cwd, "upload.bin")); got != sum {
		t.Fatalf("trz wrote a file with SHA-256 %s, want %s", got, sum)
	}
}

// With --no-transfer the page leaves ZMODEM's bytes to the terminal.
func TestPageNoTransfer(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	need(t, "sz", "ZMODEM downloads (apt-get install -y lrzsz)")
	s, cwd := transferShell(t, "--no-transfer")
	randomFile(t, cwd, "random.bin", 1<<20)
	runPageTest(t, node, s, "no-transfer", "random.bin")
}

// hexEcho is a program for the key bar and clipboard tests: on a raw
// terminal it prints "got:HEX" for every read, sends OSC 52 for the line
// "copy" and a sixel image for "image".
const hexEcho = `
import os, sys, tty, base64
tty.setraw(0)
os.write(1, b"\x1b[?2004hready\r\n")
line = b""
while True:
    b = os.read(0, 4096)
    if not b:
        break
    os.write(1, b"got:" + b.hex().encode() + b"\r\n")
    line += b
    if line.endswith(b"copy\r"):
        os.write(1, b"\x1b]52;c;" + base64.b64encode(b"from-osc52") + b"\x07")
    if line.endswith(b"image\r"):
        os.write(1, b"\x1bPq#0;2;100;0;0#0!40~-!40~\x1b\\\r\nimage-done\r\n")
    if b.endswith(b"\r"):
        line = b""
`

func hexEchoServer(t *testing.T, extra ...string) *server {
	t.Helper()
	py := "/usr/bin/python3" // Debian's: a pyenv shim on PATH may need a HOME the session lacks
	if _, err := os.Stat(py); err != nil {
		py = need(t, "python3", "the key bar and clipboard tests' program")
	}
	script := filepath.Join(t.TempDir(), "hexecho.py")
	if err := os.WriteFile(script, []byte(hexEcho), 0o644); err != nil {
		t.Fatal(err)
	}
	return startServer(t, append(append([]string{"--terminal", "--writable"}, extra...), py, script)...)
}

func TestPageKeyBar(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	runPageTest(t, node, hexEchoServer(t), "keybar")
}

func TestPageClipboard(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	runPageTest(t, node, hexEchoServer(t), "clipboard")
}

func TestPageImages(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	t.Run("on", func(t *testing.T) {
		runPageTest(t, node, hexEchoServer(t, "--client-option=images=true"), "images", "on")
	})
	t.Run("off", func(t *testing.T) {
		runPageTest(t, node, hexEchoServer(t), "images", "off")
	})
}

// The hello tells the page whether it may run transfers: only for a
// writable client, and never with --no-transfer.
func TestTerminalTransferHello(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--writable"}, true},
		{[]string{"--writable", "--no-transfer"}, false},
		{nil, false},
	} {
		s := startServer(t, append(append([]string{"--terminal"}, tc.args...), "sleep", "5")...)
		c := ttyDial(t, s.URL("/"), nil)
		if got := c.waitControl("hello"); got.Transfer != tc.want {
			t.Errorf("%v: hello says transfer=%v, want %v", tc.args, got.Transfer, tc.want)
		}
		c.c.CloseNow()
	}
}

// A "sync" is answered once the input sent before it has been written to
// the terminal: uploads are paced by it. The program here reads nothing
// for a second on a raw terminal, so 64 KiB of input cannot all be
// written before then.
func TestTerminalSync(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--writable", "bash", "-c", "stty raw -echo; echo ready; sleep 1; cat > /dev/null")
	c := ttyDial(t, s.URL("/"), nil)
	c.waitOutput("ready")
	c.send(strings.Repeat("x", 64<<10))
	start := time.Now()
	c.control(`{"type":"sync","seq":7}`)
	if got := c.waitControl("synced"); got.Seq != 7 {
		t.Fatalf("synced seq %d, want 7", got.Seq)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("synced after %v: before the program read the input", d)
	}
	// Input already written: the answer comes at once.
	c.control(`{"type":"sync","seq":8}`)
	for _, m := range c.ctrl {
		if m.Type == "synced" && m.Seq == 8 {
			return
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !c.read() {
			t.Fatal("closed before synced 8")
		}
		for _, m := range c.ctrl {
			if m.Type == "synced" && m.Seq == 8 {
				return
			}
		}
	}
	t.Fatal(fmt.Sprint("no synced 8; got ", c.ctrl))
}

// A read-only client's sync is never answered (its input goes nowhere),
// and its input never reaches the program: a read-only page cannot answer
// a transfer.
func TestTerminalSyncReadOnly(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "bash", "-c", `echo ready; if read -r -t 2 x; then echo "got:$x"; else echo nothing; fi`)
	c := ttyDial(t, s.URL("/"), nil)
	c.waitOutput("ready")
	c.send("**\x18B0100000023be50\r")
	c.control(`{"type":"sync","seq":1}`)
	c.waitOutput("nothing")
	for _, m := range c.ctrl {
		if m.Type == "synced" {
			t.Fatalf("a read-only client's sync was answered: %+v", m)
		}
	}
	if strings.Contains(c.out.String(), "got:") {
		t.Fatalf("read-only input reached the program: %q", c.out.String())
	}
}
