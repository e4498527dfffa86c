package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fullScreenProgram waits until the client's size has reached the terminal,
// writes a few lines on the normal screen, then draws a full-screen UI on
// the alternate screen the way top or a log viewer does: a header, a
// sidebar and a status line drawn once, with colours of every kind (16,
// 256 and 24-bit), attributes and wide characters; a scroll region set once,
// into which about 5 MB of coloured lines scroll; a frame counter updated
// in place. Its last frame holds DONE-FRAME; it leaves the cursor somewhere
// and waits.
const fullScreenProgram = `
import os, random, sys, time
end = time.time() + 20
while os.get_terminal_size(1) == os.terminal_size((80, 24)) and time.time() < end:
    time.sleep(0.05)
time.sleep(0.5)
cols, rows = os.get_terminal_size(1)
out = sys.stdout.buffer
w = lambda s: out.write(s.encode())
for i in range(3 * rows):
    w("\x1b[1;32mprompt\x1b[0m$ ls %d \x1b[38;5;208m日本語\x1b[0m done\r\n" % i)
w("\x1b]2;screen test\x07\x1b[?1049h\x1b[?2004h\x1b[?1h\x1b[?25l\x1b[H\x1b[2J")
w("\x1b[1;1H\x1b[1;44;97m header: 寛 wide, \x1b[3mitalic\x1b[23m, \x1b[4munderlined\x1b[24m \x1b[K\x1b[0m")
w("\x1b[2;1H\x1b[38;2;255;128;0m\x1b[48;5;236m 24-bit on 256 \x1b[0m \x1b[2mdim\x1b[0m \x1b[7minverse\x1b[0m \x1b[9mstruck\x1b[0m")
w("\x1b[%d;1H\x1b[30;102m status: static \x1b[0m" % rows)
w("\x1b[3;%dr" % (rows - 1))
r = random.Random(7)
frame, total = 0, 0
limit = int(sys.argv[1]) if len(sys.argv) > 1 else 5 << 20
while total < limit:
    b = ["\x1b[%d;1H" % (rows - 1)]
    for _ in range(4):
        b.append("\r\n\x1b[38;5;%dm\x1b[48;2;%d;%d;%dm line %d \x1b[1;3m€ 寛 %c\x1b[0m " % (r.randrange(256), r.randrange(256), r.randrange(256), r.randrange(256), frame, chr(65 + r.randrange(26))))
        b.append(("%04d " % (frame % 10000)) * ((cols - 30) // 5))
        b.append("\x1b[K")
    b.append("\x1b[1;%dH\x1b[1;31;44m%6d\x1b[0m" % (cols - 6, frame))
    s = "".join(b)
    w(s)
    total += len(s)
    frame += 1
w("\x1b[%d;%dH\x1b[1;31mDONE-FRAME %d\x1b[0m\x1b[%d;%dH" % (rows // 2, cols // 3, frame, rows // 3, cols // 2))
out.flush()
time.sleep(3600)
`

// TestTerminalScreenBrowser checks in headless Chromium that a client
// joining a shared terminal, or resuming one with its token, shows exactly
// the screen of a client that watched all the output of a full-screen
// program (static/tests/screen.browser.mjs compares the xterm.js buffers
// cell by cell). A replay of the last raw bytes could not: after 5 MB it
// starts in the middle of a frame.
func TestTerminalScreenBrowser(t *testing.T) {
	node := browserTestTools(t)
	volume := "5242880"
	if raceEnabled {
		// Built with -race, x/vt parses about ten times slower: 5 MB of
		// output would outrun the 2 MiB the screen holds unparsed, and the
		// joiner would get the byte-log fallback (man/terminal.md), which
		// this test is there to tell apart. 1.5 MB still lies far beyond
		// what a replay of the last raw bytes (256 KiB) could redraw.
		volume = "1500000"
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("needs python3")
	}
	prog := filepath.Join(t.TempDir(), "ui.py")
	if err := os.WriteFile(prog, []byte(fullScreenProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"shared", "reconnect"} {
		t.Run(mode, func(t *testing.T) {
			flag := "--shared"
			if mode == "reconnect" {
				flag = "--reconnect=5m"
			}
			env := []string{"LANG=C.UTF-8"}
			s := startServerEnv(t, env, "--terminal", flag, "--passenv=PATH,LANG", "python3", prog, volume)
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, filepath.Join("static", "tests", "screen.browser.mjs"), s.HTTPURL("/"), mode)
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "CHROMIUM="+chromiumPath())
			out, err := cmd.CombinedOutput()
			t.Logf("browser test output:\n%s", out)
			if err != nil || !strings.Contains(string(out), "ok screens match") {
				t.Fatalf("browser test: %v", err)
			}
		})
	}
}
