package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestHelpUsageLine(t *testing.T) {
	t.Parallel()
	code, out := runWsbridge(t, nil, "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage: wsbridge [flags] COMMAND [ARGS...]\n") {
		t.Fatalf("exit %d, help starts %q", code, out[:min(len(out), 80)])
	}
}

// versionRE matches --version's line: version, commit, Go version, platform.
var versionRE = regexp.MustCompile(`^wsbridge (\S+) \(commit ([0-9a-f]{12}(?:-dirty)?|unknown), (go\S+) (\S+/\S+)\)\n$`)

// binaryVersion is the version the test binary reports (a Go pseudo-version
// when built in a git checkout, else "devel").
func binaryVersion(t *testing.T) string {
	t.Helper()
	code, out := runWsbridge(t, nil, "--version")
	m := versionRE.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("--version: exit %d, %q; want %s", code, out, versionRE)
	}
	return m[1]
}

// TestVersion: --version names the version, the commit and the Go version
// and platform; a release build takes the first two from -ldflags, and its
// man page carries the version.
func TestVersion(t *testing.T) {
	t.Parallel()
	code, out := runWsbridge(t, nil, "--version")
	m := versionRE.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("--version: exit %d, %q; want %s", code, out, versionRE)
	}
	if m[3] != runtime.Version() || m[4] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("--version: %q, want %s %s/%s", out, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}

	bin := filepath.Join(t.TempDir(), "wsbridge")
	const rev = "0123456789abcdef0123456789abcdef01234567"
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin,
		"-ldflags=-X main.version=9.8.7 -X main.commit="+rev, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	release, err := exec.Command(bin, "--version").Output()
	if want := "wsbridge 9.8.7 (commit " + rev + ", " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"; err != nil || string(release) != want {
		t.Errorf("release build --version: %q (%v), want %q", release, err, want)
	}
	page, err := exec.Command(bin, "--help-man").Output()
	if err != nil || !bytes.Contains(page, []byte(`"wsbridge 9.8.7"`)) {
		t.Errorf("release build's man page lacks its version (%v):\n%.300s", err, page)
	}
}

// Like websocketd, files alone (no COMMAND) are a web server with no
// WebSocket endpoint.
func TestStaticDirWithoutCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello page"), 0o644)
	s := startServer(t, "--staticdir="+dir)
	resp, err := http.Get(s.HTTPURL("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	if status := dialStatus(t, s.URL("/"), nil); status != http.StatusNotFound {
		t.Fatalf("upgrade: %d, want 404 (no endpoint)", status)
	}
}

// The programs in examples/ run through the real binary, driven by a Go
// client, exactly as the README and the man page tell users to run them.

func TestExampleCount(t *testing.T) {
	t.Parallel()
	s := startServer(t, "./examples/count.sh")
	c := dial(t, s.URL("/"))
	start := time.Now()
	msgs, code, reason := readUntilClose(t, c)
	want := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
	if strings.Join(msgs, ",") != strings.Join(want, ",") {
		t.Errorf("messages %q, want %q", msgs, want)
	}
	if code != websocket.StatusNormalClosure || reason != "" {
		t.Errorf("closed with %d %q, want 1000 and no reason", code, reason)
	}
	// Ten lines half a second apart: the lines arrive as written, not in one
	// burst at exit.
	if d := time.Since(start); d < 4*time.Second {
		t.Errorf("count.sh took %v, want about 5s", d)
	}
}

// TestReadmeQuickStart runs the Quick start as README.md gives it: build
// once with `go build -o wsbridge .`, then run that binary on loopback
// (on a free port instead of 8080), and see count.sh's ten lines.
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, quick, ok := strings.Cut(string(readme), "\n## Quick start\n")
	_, block, ok2 := strings.Cut(quick, "```sh\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no sh block under ## Quick start")
	}
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) != 2 || lines[0] != "go build -o wsbridge ." {
		t.Fatalf("Quick start block %q, want the build then one run", lines)
	}
	args := strings.Fields(lines[1])
	if args[0] != "./wsbridge" || !slices.Contains(args, "--address=127.0.0.1") || !slices.Contains(args, "--port=8080") {
		t.Fatalf("Quick start runs %q, want ./wsbridge on --address=127.0.0.1 --port=8080", lines[1])
	}
	port := strconv.Itoa(freePort(t))
	args = args[1:]
	args[slices.Index(args, "--port=8080")] = "--port=" + port
	s := startProgram(t, nil, "", args...)
	s.addr = "127.0.0.1:" + port
	s.waitDial(t, "tcp", s.addr)
	msgs, code, _ := readUntilClose(t, dial(t, s.URL("/")))
	if strings.Join(msgs, ",") != "1,2,3,4,5,6,7,8,9,10" || code != websocket.StatusNormalClosure {
		t.Errorf("messages %q, close %d; want 1 to 10, then 1000", msgs, code)
	}
}

func TestExampleGreeter(t *testing.T) {
	t.Parallel()
	s := startServer(t, "./examples/greeter.py")
	c := dial(t, s.URL("/"))
	for _, name := range []string{"World", "Zoë", "two words", ""} {
		writeText(t, c, name)
		if got, want := readText(t, c), "Hello, "+name+"!"; got != want {
			t.Errorf("sent %q: got %q, want %q", name, got, want)
		}
	}
	// Several messages at once come back in order, one answer each.
	for i := range 5 {
		writeText(t, c, fmt.Sprint("n", i))
	}
	for i := range 5 {
		if got, want := readText(t, c), fmt.Sprintf("Hello, n%d!", i); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
	s.waitLog(t, 10*time.Second, "disconnect", `exit=`)
}

func TestExampleEnv(t *testing.T) {
	t.Parallel()
	s := startServerEnv(t, []string{"WSBRIDGE_TEST_SECRET=leaked"}, "./examples/env.sh")
	header := http.Header{}
	header.Set("Proxy", "http://attacker.example:3128")
	header.Set("X-Example-Header", "yes please")
	c := dialOpts(t, s.URL("/some/path?a=1&b=two"), &websocket.DialOptions{HTTPHeader: header})
	lines, code, reason := readUntilClose(t, c)
	if code != websocket.StatusNormalClosure {
		t.Errorf("closed with %d %q, want 1000", code, reason)
	}
	env := map[string]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Errorf("line %q is not VAR=value", l)
			continue
		}
		env[k] = v
	}
	hostport := s.addr
	port := hostport[strings.LastIndexByte(hostport, ':')+1:]
	want := map[string]string{
		"HTTP_HOST":                  hostport,
		"HTTP_X_EXAMPLE_HEADER":      "yes please",
		"GATEWAY_INTERFACE":          "CGI/1.1",
		"REQUEST_METHOD":             "GET",
		"REQUEST_URI":                "/some/path?a=1&b=two",
		"QUERY_STRING":               "a=1&b=two",
		"PATH_INFO":                  "/some/path",
		"SCRIPT_NAME":                "/",
		"SERVER_NAME":                "127.0.0.1",
		"SERVER_PORT":                port,
		"SERVER_PROTOCOL":            "HTTP/1.1",
		"REMOTE_ADDR":                "127.0.0.1",
		"REMOTE_HOST":                "127.0.0.1",
		"REMOTE_USER":                "",
		"AUTH_TYPE":                  "",
		"HTTP_UPGRADE":               "websocket",
		"HTTP_SEC_WEBSOCKET_VERSION": "13",
	}
	for k, v := range want {
		got, ok := env[k]
		if !ok {
			t.Errorf("%s missing from the environment", k)
		} else if got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"SERVER_SOFTWARE", "UNIQUE_ID", "REMOTE_PORT", "PATH"} {
		if env[k] == "" {
			t.Errorf("%s missing or empty", k)
		}
	}
	if !strings.HasPrefix(env["SERVER_SOFTWARE"], "wsbridge/") {
		t.Errorf("SERVER_SOFTWARE=%q, want wsbridge/VERSION", env["SERVER_SOFTWARE"])
	}
	// httpoxy: a client's Proxy: header must not become HTTP_PROXY.
	if v, ok := env["HTTP_PROXY"]; ok {
		t.Errorf("HTTP_PROXY=%q reached the child from a Proxy: header", v)
	}
	// Only --passenv variables come from the daemon's own environment.
	if v, ok := env["WSBRIDGE_TEST_SECRET"]; ok {
		t.Errorf("WSBRIDGE_TEST_SECRET=%q leaked from the daemon's environment", v)
	}
	if _, ok := env["HTTPS"]; ok {
		t.Errorf("HTTPS set on a plain connection")
	}
	if t.Failed() {
		t.Logf("environment:\n%s", strings.Join(lines, "\n"))
	}
}

func TestExampleChat(t *testing.T) {
	t.Parallel()
	node := need(t, "node", "the chat example")

	// "--room lobby" comes after the command, so it is chat.js's own.
	s := startServer(t, "./examples/chat.js", "--room", "lobby")
	c := dial(t, s.URL("/"))
	for _, line := range []string{"hello", "how are you?", "--room other"} {
		writeText(t, c, line)
		if got, want := readText(t, c), "[lobby] "+line; got != want {
			t.Errorf("sent %q: got %q, want %q", line, got, want)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	s.waitLog(t, 10*time.Second, "disconnect", `exit="exit status 0"`)
	if strings.Contains(s.Stderr(), "unknown flag") {
		t.Errorf("wsbridge took chat.js's --room as its own:\n%s", s.Stderr())
	}

	// Its "bye" at end of input goes to a client that has already left, so
	// check it on the program itself.
	cmd := exec.Command(node, "./examples/chat.js", "--room", "lobby")
	cmd.Stdin = strings.NewReader("hi\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chat.js: %v", err)
	}
	if got, want := string(out), "[lobby] hi\nbye\n"; got != want {
		t.Errorf("chat.js printed %q, want %q", got, want)
	}
}

func TestExampleExit(t *testing.T) {
	t.Parallel()
	s := startServer(t, "./examples/exit.sh")
	for _, n := range []int{0, 1, 3, 42, 255} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			c := dial(t, s.URL("/"))
			writeText(t, c, strconv.Itoa(n))
			msgs, code, reason := readUntilClose(t, c)
			if len(msgs) != 0 {
				t.Errorf("unexpected messages %q", msgs)
			}
			wantCode, wantReason := websocket.StatusCode(4000+n), fmt.Sprintf("exit status %d", n)
			if n == 0 {
				wantCode, wantReason = websocket.StatusNormalClosure, ""
			}
			if code != wantCode || reason != wantReason {
				t.Errorf("closed with %d %q, want %d %q", code, reason, wantCode, wantReason)
			}
		})
	}
}

// TestExampleGreeterPythonClient drives greeter.py with another WebSocket
// implementation: Debian's python3-websockets, as the README suggests.
func TestExampleGreeterPythonClient(t *testing.T) {
	t.Parallel()
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import websockets").CombinedOutput(); err != nil {
		skipUnlessCI(t, fmt.Sprintf("%s cannot import websockets (apt-get install python3-websockets): %v\n%s", python, err, out))
	}
	s := startServer(t, "./examples/greeter.py")
	const client = `
import asyncio, sys, websockets

async def main(url):
    async with websockets.connect(url) as ws:
        for name in sys.argv[2:]:
            await ws.send(name)
            print(await ws.recv(), flush=True)
    print("close", ws.close_code, flush=True)

asyncio.run(main(sys.argv[1]))
`
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", client, s.URL("/"), "World", "Zoë")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s\nwsbridge log:\n%s", err, stderr.String(), s.Stderr())
	}
	if got, want := string(out), "Hello, World!\nHello, Zoë!\nclose 1000\n"; got != want {
		t.Errorf("python client printed %q, want %q", got, want)
	}
}
