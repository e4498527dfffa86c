package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Browser tests of static/broadcast/broadcast.js (issue 19): a page whose
// instance restarts, and the chat example across the loss of its owner.

// pageDriver runs static/tests/driver.browser.mjs: pages in headless
// Chromium that the test drives between the things it does to wsbridge.
type pageDriver struct {
	t   testing.TB
	in  io.WriteCloser
	out *bufio.Scanner
}

func startPageDriver(t testing.TB) *pageDriver {
	t.Helper()
	node := browserTestTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, node, filepath.Join("static", "tests", "driver.browser.mjs"))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "CHROMIUM="+chromiumPath())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	return &pageDriver{t: t, in: in, out: sc}
}

// do sends one command and returns its value; a failed command fails the
// test.
func (d *pageDriver) do(cmd map[string]any) json.RawMessage {
	d.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		d.t.Fatalf("page driver: %v", err)
	}
	if !d.out.Scan() {
		d.t.Fatalf("page driver ended on %s: %v", b, d.out.Err())
	}
	var a struct {
		OK    bool            `json:"ok"`
		Value json.RawMessage `json:"value"`
		Error string          `json:"error"`
	}
	if err := json.Unmarshal(d.out.Bytes(), &a); err != nil || !a.OK {
		d.t.Fatalf("page driver: %s: %s %v", b, a.Error, err)
	}
	return a.Value
}

func (d *pageDriver) open(page, url string) { d.do(map[string]any{"open": url, "page": page}) }

func (d *pageDriver) wait(page, expr string, timeout time.Duration) {
	d.t.Helper()
	d.do(map[string]any{"wait": expr, "page": page, "timeout": timeout.Milliseconds()})
}

func (d *pageDriver) eval(page, expr string, v any) {
	d.t.Helper()
	if err := json.Unmarshal(d.do(map[string]any{"eval": expr, "page": page}), v); err != nil {
		d.t.Fatalf("eval %s: %v", expr, err)
	}
}

// checkProblems fails on page errors; a WebSocket that could not connect
// while its instance was down is logged by Chromium, and expected.
func (d *pageDriver) checkProblems() {
	d.t.Helper()
	var problems []string
	json.Unmarshal(d.do(map[string]any{"problems": true}), &problems)
	for _, p := range problems {
		if !strings.Contains(p, "WebSocket connection to") {
			d.t.Errorf("page problem: %s", p)
		}
	}
}

// startOnPort runs wsbridge on a given loopback port (an instance started
// again where it was).
func startOnPort(t testing.TB, port string, args ...string) *server {
	t.Helper()
	s := startProgram(t, nil, "", append([]string{"--address=127.0.0.1", "--port=" + port}, args...)...)
	s.addr = "127.0.0.1:" + port
	s.waitDial(t, "tcp", s.addr)
	return s
}

const feedPage = `<!doctype html><meta charset="utf-8"><title>feed</title><link rel="icon" href="data:,">
<script src="/.wsbridge/broadcast.js"></script>
<script>
window.got = []; window.state = '';
wsbridgeBroadcast(location.origin.replace(/^http/, 'ws') + '/feed', {
  message(d) { got.push(d); },
  reset(e) { got.push('RESET ' + e); },
  status(s) { window.state = s; },
});
</script>`

// A page on an instance that restarts (wsbridge --redis, two instances):
// it reconnects to the instance when it is back and resumes, and has every
// message once, in order: those sent while its instance was down too.
func TestBroadcastResumeBrowser(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	d := startPageDriver(t)
	pages := t.TempDir()
	writeFile(t, pages+"/index.html", feedPage, 0o644)
	args := []string{"--broadcast", "--redis=" + r.URL(), "--lease=1s", "--replay=3", "--staticdir=" + pages, "cat"}
	a := startServer(t, args...)
	b := startServer(t, args...)
	plain := dial(t, b.URL("/feed"))
	d.open("p", a.HTTPURL("/"))
	d.wait("p", "window.state === 'open'", 10*time.Second)
	want := seq("m", 1, 20)
	say(t, plain, want...)
	d.wait("p", "got.length >= 20", 10*time.Second)

	_, port, _ := net.SplitHostPort(a.addr)
	a.stop(t)
	d.wait("p", "window.state === 'closed'", 10*time.Second)
	say(t, plain, seq("n", 1, 30)...) // while the page's instance is down
	want = append(want, seq("n", 1, 30)...)
	startOnPort(t, port, args...)
	d.wait("p", "window.state === 'open'", 20*time.Second)
	say(t, plain, seq("live", 1, 5)...)
	want = append(want, seq("live", 1, 5)...)
	d.wait("p", fmt.Sprintf("got.length >= %d", len(want)), 10*time.Second)
	time.Sleep(300 * time.Millisecond) // anything repeated comes now
	var got []string
	d.eval("p", "got", &got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the page has\n%v\nwant each message once, in order:\n%v", got, want)
	}
	d.checkProblems()
}

// examples/chat with --redis across the loss of its owner: the instance
// running chat.py is killed mid-conversation, the survivor's pages go on
// with a new chat.py, and each receipt lands on its own message: message
// IDs of the new program never repeat the old one's.
func TestExampleChatFailoverBrowser(t *testing.T) {
	t.Parallel()
	need(t, "python3", "examples/chat/chat.py")
	r := startRedis(t)
	d := startPageDriver(t)
	args := []string{"--broadcast", "--envelope", "--redis=" + r.URL(), "--lease=1s", "--staticdir=examples/chat", "examples/chat/chat.py"}
	owner := startServer(t, args...)
	survivor := startServer(t, args...)
	// A client of the first instance first: it takes the lease and runs
	// chat.py.
	watcher := dial(t, owner.URL("/chat/lobby"))
	_, hello := readMsg(t, watcher)
	if !strings.Contains(string(hello), "hello") {
		t.Fatalf("first message %q, want hello", hello)
	}
	d.open("alice", survivor.HTTPURL("/"))
	d.open("bob", survivor.HTTPURL("/"))
	d.wait("alice", "document.getElementById('status').textContent === '3 online'", 10*time.Second)

	sayIn := func(page, text string) {
		t.Helper()
		var ok bool
		d.eval(page, fmt.Sprintf(`(() => { const i = document.getElementById('text'); i.value = %q; document.getElementById('form').requestSubmit(); return true; })()`, text), &ok)
	}
	// receiptOf is the receipt shown on alice's line of text, "" if none.
	receiptOf := func(text string) string {
		t.Helper()
		var r string
		d.eval("alice", fmt.Sprintf(`(() => { for (const div of document.querySelectorAll('#log div')) if (div.firstChild && div.firstChild.textContent === 'me: ' + %q) { const r = div.querySelector('.receipt'); return r ? r.textContent : ''; } return 'no such line'; })()`, text), &r)
		return r
	}
	waitReceipt := func(text string) {
		t.Helper()
		d.wait("alice", fmt.Sprintf(`[...document.querySelectorAll('#log div')].some((div) => div.firstChild && div.firstChild.textContent === 'me: ' + %q && div.querySelector('.receipt'))`, text), 15*time.Second)
	}
	sayIn("alice", "before")
	waitReceipt("before") // bob read it: the watcher reads nothing
	if got := receiptOf("before"); got != "read by 1" {
		t.Fatalf("receipt of before: %q", got)
	}

	// chat.py ends with its stdin, when the daemon dies.
	owner.signal(t, syscall.SIGKILL)
	killed := time.Now()
	// The survivor takes over once the lease expires; what alice says
	// meanwhile reaches the new chat.py.
	sayIn("alice", "after")
	waitReceipt("after")
	t.Logf("the receipt of a message sent right after the owner was killed came %v later", time.Since(killed).Round(time.Millisecond))
	if got := receiptOf("before"); got != "read by 1" {
		t.Fatalf("the receipt of before became %q: a receipt of the new program landed on an old message", got)
	}
	var lines []string
	d.eval("bob", `[...document.querySelectorAll('#log div')].map((d) => d.firstChild.textContent)`, &lines)
	if len(lines) != 2 || !strings.HasSuffix(lines[0], ": before") || !strings.HasSuffix(lines[1], ": after") {
		t.Fatalf("bob's log %q, want before and after, once each", lines)
	}
	d.checkProblems()
}
