package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// End-to-end tests of --pty and --terminal through the real binary, with a
// Go client speaking wsbridge.tty.v1 (static/PROTOCOL.md).

const ttyProto = "wsbridge.tty.v1"

// ttyConn is a client of a terminal endpoint: the output bytes and the
// control messages received so far.
type ttyConn struct {
	t      testing.TB
	c      *websocket.Conn
	header http.Header
	out    bytes.Buffer
	ctrl   []ttyMsg
	// replayed is the output received between "replay" and "live".
	replayed  bytes.Buffer
	inReplay  bool
	closeCode websocket.StatusCode
	closeWhy  string
	closed    bool
}

// ttyMsg is any server control message.
type ttyMsg struct {
	Type      string `json:"type"`
	Session   string `json:"session"`
	Writable  bool   `json:"writable"`
	Watcher   bool   `json:"watcher"`
	Reconnect bool   `json:"reconnect"`
	Title     string `json:"title"`
	Transfer  bool   `json:"transfer"`
	Seq       int64  `json:"seq"`
}

func ttyDial(t testing.TB, url string, hdr http.Header) *ttyConn {
	t.Helper()
	tc, err := ttyTryDial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	tc.t = t
	t.Cleanup(func() { tc.c.CloseNow() })
	return tc
}

func ttyTryDial(url string, hdr http.Header) (*ttyConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{ttyProto}, HTTPHeader: hdr})
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("%w (HTTP %d)", err, res.StatusCode)
		}
		return nil, err
	}
	c.SetReadLimit(-1)
	return &ttyConn{c: c, header: res.Header}, nil
}

// read takes one message into the buffers; false once the connection is
// closed.
func (tc *ttyConn) read() bool {
	if tc.closed {
		return false
	}
	typ, b, err := readWithTimeout(tc.c)
	if err != nil {
		tc.closed = true
		tc.closeCode, tc.closeWhy = closeStatus(err)
		return false
	}
	if typ == websocket.MessageBinary {
		tc.out.Write(b)
		if tc.inReplay {
			tc.replayed.Write(b)
		}
		return true
	}
	var m ttyMsg
	if err := json.Unmarshal(b, &m); err != nil {
		tc.t.Fatalf("control message %q: %v", b, err)
	}
	tc.ctrl = append(tc.ctrl, m)
	switch m.Type {
	case "replay":
		tc.inReplay = true
	case "live":
		tc.inReplay = false
	}
	return true
}

// waitOutput reads until the output matches re and returns the match.
func (tc *ttyConn) waitOutput(re string) []string {
	tc.t.Helper()
	rx := regexp.MustCompile(re)
	for {
		if m := rx.FindStringSubmatch(tc.out.String()); m != nil {
			return m
		}
		if !tc.read() {
			tc.t.Fatalf("no %q in the output before close %d %q; output:\n%q", re, tc.closeCode, tc.closeWhy, tc.out.String())
		}
	}
}

// waitControl reads until a control message of type typ arrives.
func (tc *ttyConn) waitControl(typ string) ttyMsg {
	tc.t.Helper()
	for i := 0; ; i++ {
		for ; i < len(tc.ctrl); i++ {
			if tc.ctrl[i].Type == typ {
				return tc.ctrl[i]
			}
		}
		i--
		if !tc.read() {
			tc.t.Fatalf("no %q message before close %d %q; got %+v", typ, tc.closeCode, tc.closeWhy, tc.ctrl)
		}
	}
}

// untilClose reads to the end and returns the close status.
func (tc *ttyConn) untilClose() (websocket.StatusCode, string) {
	for tc.read() {
	}
	return tc.closeCode, tc.closeWhy
}

func (tc *ttyConn) send(s string) {
	tc.t.Helper()
	if err := tc.c.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		tc.t.Fatalf("send: %v", err)
	}
}

func (tc *ttyConn) control(msg string) {
	tc.t.Helper()
	if err := tc.c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		tc.t.Fatalf("send control: %v", err)
	}
}

// interactive is an interactive shell with a fixed prompt and no startup
// files, the same on every machine.
var interactive = []string{"/bin/sh", "-i"}

func TestPTYLineModeUnbuffered(t *testing.T) {
	t.Parallel()
	// Python block-buffers stdout on a pipe: without --pty the answer would
	// come only when it exits. On a terminal each print() is flushed.
	s := startServer(t, "--pty", "/usr/bin/python3", "-c", "import sys\nfor l in sys.stdin: print(l.strip().upper())")
	c := dial(t, s.URL("/"))
	for _, m := range []string{"hello", "second line"} {
		writeText(t, c, m)
		// Echo is off: the first message back is the answer, not the line.
		if got, want := readText(t, c), strings.ToUpper(m); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	// The client left: the kill sequence's EOF (^D) ends the loop cleanly.
	s.waitLog(t, 10*time.Second, "disconnect", `exit="exit status 0"`)
}

func TestPTYLineMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		query  string
		send   []string
		want   []string
		code   websocket.StatusCode
		reason string
	}{
		{"echo off, exit status", []string{"--pty", "sh", "-c", `read x; echo "got $x"; exit 3`}, "", []string{"hi"}, []string{"got hi"}, 4003, "exit status 3"},
		{"stderr merged", []string{"--pty", "sh", "-c", `echo out; echo err >&2`}, "", nil, []string{"out", "err"}, websocket.StatusNormalClosure, ""},
		{"signal", []string{"--pty", "sh", "-c", `echo x; kill -KILL $$`}, "", nil, []string{"x"}, websocket.StatusInternalError, "killed by signal KILL"},
		{"is a terminal", []string{"--pty", "sh", "-c", `[ -t 0 ] && [ -t 1 ] && echo tty`}, "", nil, []string{"tty"}, websocket.StatusNormalClosure, ""},
		{"default size", []string{"--pty", "stty", "size"}, "", nil, []string{"24 80"}, websocket.StatusNormalClosure, ""},
		{"size from the query", []string{"--pty", "stty", "size"}, "?cols=132&rows=43", nil, []string{"43 132"}, websocket.StatusNormalClosure, ""},
		{"size out of range", []string{"--pty", "stty", "size"}, "?cols=0&rows=43", nil, []string{"24 80"}, websocket.StatusNormalClosure, ""},
		{"TERM", []string{"--pty", "sh", "-c", `echo "$TERM"`}, "", nil, []string{"xterm-256color"}, websocket.StatusNormalClosure, ""},
		{"--term", []string{"--pty", "--term=vt100", "sh", "-c", `echo "$TERM"`}, "", nil, []string{"vt100"}, websocket.StatusNormalClosure, ""},
		{"binary mode", []string{"--pty", "--binary", "sh", "-c", `printf 'a\nb'`}, "", nil, []string{"a\r\nb"}, websocket.StatusNormalClosure, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, tt.args...)
			c := dial(t, s.URL("/"+tt.query))
			for _, m := range tt.send {
				writeText(t, c, m)
			}
			var got []string
			var code websocket.StatusCode
			var reason string
			if strings.Contains(strings.Join(tt.args, " "), "--binary") {
				var all []byte
				for {
					_, b, err := readWithTimeout(c)
					if err != nil {
						code, reason = closeStatus(err)
						break
					}
					all = append(all, b...)
				}
				got = []string{string(all)}
			} else {
				got, code, reason = readUntilClose(t, c)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("messages %q, want %q", got, tt.want)
			}
			if code != tt.code || reason != tt.reason {
				t.Errorf("close %d %q, want %d %q", code, reason, tt.code, tt.reason)
			}
		})
	}
}

func TestURLArgAndCwd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := `for a; do echo "[$a]"; done; pwd`
	tests := []struct {
		name  string
		flags []string
		want  []string
	}{
		{"off by default", nil, []string{"[fixed]", ""}},
		{"--url-arg", []string{"--url-arg"}, []string{"[fixed]", "[one]", "[-two]", "[three four]", ""}},
		{"--cwd", []string{"--cwd=" + dir}, []string{"[fixed]", dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, append(tt.flags, "sh", "-c", args, "sh", "fixed")...)
			got, code, _ := readUntilClose(t, dial(t, s.URL("/?arg=one&arg=-two&arg=three%20four")))
			want := tt.want
			if want[len(want)-1] == "" {
				wd, _ := os.Getwd()
				want = append(want[:len(want)-1:len(want)-1], wd)
			}
			if strings.Join(got, "|") != strings.Join(want, "|") || code != websocket.StatusNormalClosure {
				t.Errorf("got %q (close %d), want %q", got, code, want)
			}
		})
	}
}

func TestTerminalSubprotocol(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "cat")
	// Without the subprotocol: 400 before any process starts.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, protos := range [][]string{nil, {"chat"}} {
		_, res, err := websocket.Dial(ctx, s.URL("/"), &websocket.DialOptions{Subprotocols: protos})
		if err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
			t.Fatalf("subprotocols %q: %v, %v; want 400", protos, err, res)
		}
	}
	tc := ttyDial(t, s.URL("/"), nil)
	if got := tc.c.Subprotocol(); got != ttyProto {
		t.Fatalf("subprotocol %q, want %q echoed", got, ttyProto)
	}
	hello := tc.waitControl("hello")
	if hello.Writable || hello.Reconnect || hello.Session != "" {
		t.Fatalf("hello %+v: want read-only, no reconnect, no token", hello)
	}
	host, _ := os.Hostname()
	if title := tc.waitControl("title").Title; title != "cat ("+host+")" {
		t.Fatalf("title %q", title)
	}
	if tc.ctrl[0].Type != "hello" {
		t.Fatalf("first message %+v, want hello", tc.ctrl[0])
	}
}

func TestTerminalTitleFormat(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", `--title-format=<{{.Command}}> from {{.RemoteAddr}}`, "cat", "-u")
	tc := ttyDial(t, s.URL("/"), nil)
	if title := tc.waitControl("title").Title; title != "<cat -u> from 127.0.0.1" {
		t.Fatalf("title %q", title)
	}
	// The built page is committed: a plain `go build` serves it and its
	// bundle, never the 503 that asks for npm.
	res, body := httpRequest(t, nil, "GET", s.HTTPURL("/"), nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "?asset=terminal.js") {
		t.Fatalf("GET on the endpoint: %d %v\n%s", res.StatusCode, res.Header, body)
	}
	if res, body := httpRequest(t, nil, "GET", s.HTTPURL("/?asset=terminal.js"), nil); res.StatusCode != http.StatusOK || len(body) < 100_000 {
		t.Fatalf("GET ?asset=terminal.js: %d, %d bytes", res.StatusCode, len(body))
	}
}

func TestTerminalResizeAndInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--writable", "sh", "-c", `while read line; do echo "line=$line size=$(stty size)"; done`)
	tc := ttyDial(t, s.URL("/?cols=100&rows=30"), nil)
	if hello := tc.waitControl("hello"); !hello.Writable {
		t.Fatalf("hello %+v: want writable", hello)
	}
	tc.send("one\r")
	// Echo is on in a terminal: the typed line, then the program's answer.
	tc.waitOutput(`one\r\nline=one size=30 100\r\n`)
	tc.control(`{"type":"resize","cols":120,"rows":40}`)
	tc.send("two\r")
	tc.waitOutput(`line=two size=40 120`)
	// Sizes out of range and unknown messages are ignored.
	tc.control(`{"type":"resize","cols":0,"rows":40}`)
	tc.control(`{"type":"resize","cols":5000,"rows":40}`)
	tc.control(`{"type":"no-such-message","x":1}`)
	tc.send("three\r")
	tc.waitOutput(`line=three size=40 120`)
}

func TestTerminalReadOnly(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "bash", "-c", `echo ready; if read -r -t 2 x; then echo "got:$x"; else echo nothing; fi`)
	tc := ttyDial(t, s.URL("/"), nil)
	tc.waitOutput("ready")
	tc.send("secret\r")
	tc.waitOutput("nothing")
	if strings.Contains(tc.out.String(), "secret") {
		t.Fatalf("read-only input reached the terminal: %q", tc.out.String())
	}
	if code, _ := tc.untilClose(); code != websocket.StatusNormalClosure {
		t.Fatalf("close %d", code)
	}
}

func TestTerminalExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script string
		code   websocket.StatusCode
		reason string
	}{
		{`printf 'last words'; exit 0`, websocket.StatusNormalClosure, ""},
		{`printf 'last words'; exit 5`, 4005, "exit status 5"},
		{`printf 'last words'; kill -TERM $$`, websocket.StatusInternalError, "killed by signal TERM"},
		// Output that fills the terminal is all delivered before the close.
		{`seq 1 100000 | tail -c 300000 >/dev/null; seq 1 20000; printf 'last words'; exit 7`, 4007, "exit status 7"},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "--terminal", "sh", "-c", tt.script)
			tc := ttyDial(t, s.URL("/"), nil)
			code, reason := tc.untilClose()
			if code != tt.code || reason != tt.reason {
				t.Errorf("close %d %q, want %d %q", code, reason, tt.code, tt.reason)
			}
			if !strings.HasSuffix(tc.out.String(), "last words") {
				t.Errorf("output ends %q, want the last words", tail(tc.out.String(), 40))
			}
			if strings.Contains(tt.script, "seq 1 20000") && !strings.Contains(tc.out.String(), "\r\n19999\r\n20000\r\n") {
				t.Errorf("output incomplete: %d bytes", tc.out.Len())
			}
		})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestTerminalOrigin(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "cat")
	explicit := startServer(t, "--terminal", "--origin=evil.example", "cat")
	tests := []struct {
		name   string
		srv    *server
		origin string
		ok     bool
	}{
		{"no Origin (a program)", s, "", true},
		{"same origin", s, "http://" + s.addr, true},
		{"cross-site", s, "http://evil.example", false},
		{"same host, other port", s, "http://127.0.0.1:1", false},
		{"null", s, "null", false},
		{"--origin allows it", explicit, "http://evil.example", true},
		{"--origin: no Origin refused as websocketd does", explicit, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			tc, err := ttyTryDial(tt.srv.URL("/"), hdr)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				tc.c.CloseNow()
				return
			}
			if err == nil {
				tc.c.CloseNow()
				t.Fatal("accepted, want 403")
			}
			if !strings.Contains(err.Error(), "HTTP 403") {
				t.Fatalf("%v, want 403", err)
			}
		})
	}
}

// shellPid asks an interactive shell for its pid.
func shellPid(tc *ttyConn, tag string) string {
	tc.send("echo " + tag + "-$$-end\r")
	return tc.waitOutput(tag + `-(\d+)-end\r\n`)[1]
}

func TestTerminalReconnect(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--writable", "--reconnect=1m", interactive[0], interactive[1])
	tc := ttyDial(t, s.URL("/session-path?cols=90&rows=25"), nil)
	hello := tc.waitControl("hello")
	if !hello.Reconnect || len(hello.Session) != 32 {
		t.Fatalf("hello %+v: want reconnect and a 128-bit token", hello)
	}
	pid := shellPid(tc, "pid1")
	tc.send("echo marker-$((100+23))\r")
	tc.waitOutput(`marker-123\r\n`)

	// The connection drops without a close frame, as on a network failure.
	tc.c.CloseNow()
	s.waitLog(t, 10*time.Second, "detached", "keep=1m0s")

	// A token for another path, or no such token: 4400, the page's cue to
	// start afresh.
	for _, url := range []string{s.URL("/other?session=" + hello.Session), s.URL("/session-path?session=00112233445566778899aabbccddeeff")} {
		bad := ttyDial(t, url, nil)
		if code, reason := bad.untilClose(); code != 4400 || reason != "unknown session" {
			t.Fatalf("%s: close %d %q, want 4400", url, code, reason)
		}
	}

	back := ttyDial(t, s.URL("/session-path?cols=90&rows=25&session="+hello.Session), nil)
	if h := back.waitControl("hello"); h.Session != hello.Session {
		t.Fatalf("resumed hello %+v, want the same session", h)
	}
	back.waitControl("live")
	if !strings.Contains(back.replayed.String(), "marker-123") {
		t.Fatalf("replay lacks the screen: %q", back.replayed.String())
	}
	if got := shellPid(back, "pid2"); got != pid {
		t.Fatalf("shell pid %s after reconnect, want %s (the same shell)", got, pid)
	}

	// A second connection with the token takes the session over.
	third := ttyDial(t, s.URL("/session-path?session="+hello.Session), nil)
	third.waitControl("live")
	if code, _ := back.untilClose(); code != 4409 {
		t.Fatalf("taken-over connection closed with %d, want 4409", code)
	}
	third.send("exit 3\r")
	if code, _ := third.untilClose(); code != 4003 {
		t.Fatalf("close %d, want 4003", code)
	}
}

func TestTerminalReconnectWindowEnds(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--reconnect=200ms", "sleep", "60")
	tc := ttyDial(t, s.URL("/"), nil)
	token := tc.waitControl("hello").Session
	tc.c.CloseNow()
	s.waitLog(t, 10*time.Second, "reconnect window over")
	s.waitLog(t, 10*time.Second, "msg=exit", `exit="killed by signal INT"`)
	back := ttyDial(t, s.URL("/?session="+token), nil)
	if code, _ := back.untilClose(); code != 4400 {
		t.Fatalf("close %d, want 4400 after the window", code)
	}
}

func TestTerminalWithoutReconnectStopsOnLeave(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--writable", "cat")
	tc := ttyDial(t, s.URL("/"), nil)
	tc.send("x\r")
	tc.waitOutput(`x\r\nx\r\n`)
	tc.c.Close(websocket.StatusNormalClosure, "")
	// cat ends on the EOF the kill sequence sends first.
	s.waitLog(t, 10*time.Second, "msg=exit", `exit="exit status 0"`)
}

func TestTerminalShared(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--writable", "--shared", "sh", "-c", `echo started; while read line; do echo "got=$line size=$(stty size)"; done`)
	a := ttyDial(t, s.URL("/?cols=100&rows=30"), nil)
	a.waitOutput("started")
	token := a.waitControl("hello").Session
	b := ttyDial(t, s.URL("/?cols=80&rows=40"), nil)
	if hb := b.waitControl("hello"); hb.Session != token || !hb.Reconnect {
		t.Fatalf("second client's hello %+v, want the same session %s", hb, token)
	}
	b.waitControl("live")
	if !strings.Contains(b.replayed.String(), "started") {
		t.Fatalf("joining client's replay %q lacks the earlier output", b.replayed.String())
	}

	// Input from either reaches the one program; both see all output; the
	// terminal takes the smallest columns and rows.
	a.send("from-a\r")
	b.send("from-b\r")
	for _, c := range []*ttyConn{a, b} {
		c.waitOutput(`got=from-a size=30 80`)
		c.waitOutput(`got=from-b size=30 80`)
	}
	// One connection's messages are handled in order: the resize is in
	// effect before the line after it arrives.
	b.control(`{"type":"resize","cols":120,"rows":20}`)
	b.send("again\r")
	a.waitOutput(`got=again size=20 100`)

	// When one leaves, the size follows the one left, and the program
	// carries on for the other.
	b.c.Close(websocket.StatusNormalClosure, "")
	s.waitLog(t, 10*time.Second, "msg=disconnect")
	a.send("final\r")
	a.waitOutput(`got=final size=30 100`)
}

func TestTerminalOnce(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--writable", "--once", "sh", "-c", `read x; echo "bye $x"`)
	tc := ttyDial(t, s.URL("/"), nil)
	tc.waitControl("hello")
	if _, err := ttyTryDial(s.URL("/"), nil); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("second session: %v, want 503", err)
	}
	tc.send("now\r")
	tc.waitOutput("bye now")
	if code, _ := tc.untilClose(); code != websocket.StatusNormalClosure {
		t.Fatalf("close %d", code)
	}
	select {
	case <-s.exited:
		if s.err != nil {
			t.Fatalf("wsbridge --once exited with %v, want 0\n%s", s.err, s.Stderr())
		}
	case <-time.After(testTimeout):
		t.Fatalf("wsbridge --once still running after its session\n%s", s.Stderr())
	}
}

func TestOncePipes(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--once", "sh", "-c", "echo one")
	if msgs, _, _ := readUntilClose(t, dial(t, s.URL("/"))); strings.Join(msgs, "|") != "one" {
		t.Fatalf("messages %q", msgs)
	}
	select {
	case <-s.exited:
		if s.err != nil {
			t.Fatalf("exit %v, want 0", s.err)
		}
	case <-time.After(testTimeout):
		t.Fatal("wsbridge --once still running after its session")
	}
}

func TestTerminalMaxClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--max-clients=1", "cat")
	first := ttyDial(t, s.URL("/"), nil)
	first.waitControl("hello")
	if _, err := ttyTryDial(s.URL("/"), nil); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("second client: %v, want 503", err)
	}
	first.c.Close(websocket.StatusNormalClosure, "")
	s.waitLog(t, 10*time.Second, "msg=disconnect")
	ttyDial(t, s.URL("/"), nil).waitControl("hello")
}

func TestTerminalBadControlMessages(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "cat")
	tests := []struct {
		name string
		msg  string
		code websocket.StatusCode
	}{
		{"not JSON", "resize 80 24", websocket.StatusInvalidFramePayloadData},
		{"wrong field type", `{"type":"resize","cols":"80","rows":24}`, websocket.StatusInvalidFramePayloadData},
		{"not an object", `[1,2]`, websocket.StatusInvalidFramePayloadData},
		{"too big", `{"type":"x","pad":"` + strings.Repeat("a", 5000) + `"}`, websocket.StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tc := ttyDial(t, s.URL("/"), nil)
			tc.waitControl("hello")
			tc.control(tt.msg)
			if code, reason := tc.untilClose(); code != tt.code || reason == "" {
				t.Fatalf("close %d %q, want %d with a reason", code, reason, tt.code)
			}
		})
	}
}

// Pausing stops the reading of the terminal: the program blocks and output
// stops short of its end until resume, after which every byte arrives.
func TestTerminalPauseResume(t *testing.T) {
	t.Parallel()
	const lines = 400000 // "%07d\r\n": 3.6 MB through the terminal
	s := startServer(t, "--terminal", "sh", "-c", fmt.Sprintf(`seq -f %%07g 1 %d`, lines))
	tc := ttyDial(t, s.URL("/"), nil)
	type frame struct {
		n   int
		err error
	}
	frames := make(chan frame)
	go func() {
		for {
			typ, b, err := tc.c.Read(context.Background())
			if typ != websocket.MessageBinary {
				b = nil
			}
			frames <- frame{len(b), err}
			if err != nil {
				return
			}
		}
	}()
	got := 0
	for got < 100000 {
		f := <-frames
		if f.err != nil {
			t.Fatalf("read: %v", f.err)
		}
		got += f.n
	}
	tc.control(`{"type":"pause"}`)
	before := got
	// What was in flight when the pause arrived comes; then nothing, for
	// as long as we care to wait.
	for quiet := false; !quiet; {
		select {
		case f := <-frames:
			if f.err != nil {
				t.Fatalf("closed while paused (%v) after %d bytes: the pause was ignored", f.err, got)
			}
			got += f.n
		case <-time.After(time.Second):
			quiet = true
		}
	}
	t.Logf("paused at %d bytes; %d more arrived", before, got-before)
	if got >= lines*9 {
		t.Fatalf("all %d bytes arrived while paused", got)
	}
	tc.control(`{"type":"resume"}`)
	for {
		select {
		case f := <-frames:
			got += f.n
			if f.err == nil {
				continue
			}
			if code, _ := closeStatus(f.err); code != websocket.StatusNormalClosure {
				t.Fatalf("close %v", f.err)
			}
			if want := lines * 9; got != want {
				t.Fatalf("%d bytes, want %d", got, want)
			}
			return
		case <-time.After(testTimeout):
			tc.c.CloseNow()
			t.Fatalf("output stalled after resume at %d bytes", got)
		}
	}
}

func TestTerminalFlagErrors(t *testing.T) {
	t.Parallel()
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--terminal", "--binary", "cat"}, "--terminal cannot be combined with --binary"},
		{[]string{"--terminal", "--passstderr", "cat"}, "--terminal cannot be combined with --passstderr"},
		{[]string{"--pty", "--passstderr", "cat"}, "--pty cannot be combined with --passstderr"},
		{[]string{"--terminal", "--devconsole", "cat"}, "--terminal cannot be combined with --devconsole"},
		{[]string{"--terminal", "--subprotocol=x", "cat"}, "--subprotocol cannot be combined with --terminal"},
		{[]string{"--shared", "cat"}, "--shared needs --terminal"},
		{[]string{"--reconnect=1m", "cat"}, "--reconnect needs --terminal"},
		{[]string{"--writable", "cat"}, "--writable needs --terminal"},
		{[]string{"--terminal", "--no-auth", "cat"}, "--no-auth needs --terminal --writable"},
		{[]string{"--terminal", "--writable", "--no-auth", "--credential=a:b", "cat"}, "--no-auth cannot be combined with --credential"},
		{[]string{"--max-clients=2", "cat"}, "--max-clients needs --terminal"},
		{[]string{"--client-option=fontSize=20", "cat"}, "--client-option needs --terminal"},
		{[]string{"--title-format=x", "cat"}, "--title-format needs --terminal"},
		{[]string{"--term=vt100", "cat"}, "--term needs --pty or --terminal"},
		{[]string{"--scrollback=5", "cat"}, "--scrollback needs --terminal"},
		{[]string{"--terminal", "--scrollback=-1", "cat"}, "--scrollback=-1: must be 0"},
		{[]string{"--terminal", "--reconnect=-1s", "cat"}, "--reconnect=-1s"},
		{[]string{"--terminal", "--max-clients=-1", "cat"}, "--max-clients=-1"},
		{[]string{"--terminal", "--title-format={{.Nope}}", "cat"}, "--title-format"},
		{[]string{"--terminal", "--title-format={{", "cat"}, "--title-format"},
		{[]string{"--terminal", "--client-option=fontSize", "cat"}, "--client-option=\"fontSize\": want KEY=VALUE"},
		{[]string{"--cwd=/no/such/dir", "cat"}, "--cwd=\"/no/such/dir\""},
		{[]string{"--cwd=" + notDir, "cat"}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out := runWsbridge(t, nil, tt.args...)
			if code != 2 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output %q; want 2 and %q", code, out, tt.want)
			}
		})
	}
}

// screenshotFile is the screenshot the README shows, rewritten by
// TestTerminalBrowser when WSBRIDGE_UPDATE_SCREENSHOT=1.
const screenshotFile = "static/terminal-screenshot.png"

// TestTerminalBrowser drives the terminal page in headless Chromium through
// static/tests/terminal.browser.mjs against the real binary: it types a
// command and sees its output, resizes the window and sees tput cols change,
// floods the terminal with yes, checks that the page stays responsive and
// that Ctrl-C stops the flood within a second, and takes a screenshot.
//
// It is not parallel: it checks how long the page takes to answer during
// the flood, and runs with nothing else loading the machine.
func TestTerminalBrowser(t *testing.T) {
	node := browserTestTools(t)
	// A plain bash with a fixed prompt, whatever the machine's dotfiles.
	env := []string{
		`PS1=\[\e[1;32m\]demo@wsbridge\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ `,
		"LANG=C.UTF-8",
	}
	s := startServerEnv(t, env, "--terminal", "--writable", "--passenv=PATH,PS1,LANG", "--cwd=/",
		"--client-option=fontSize=15", "bash", "--norc", "--noprofile", "-i")
	shot := filepath.Join(t.TempDir(), "terminal.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("static", "tests", "terminal.browser.mjs"), s.HTTPURL("/"), shot)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", out)
	if err != nil {
		t.Fatalf("browser test: %v\nserver log:\n%s", err, s.Stderr())
	}
	if !strings.Contains(string(out), "ok screenshot saved") {
		t.Fatal("browser test did not get to the end")
	}
	if os.Getenv("WSBRIDGE_UPDATE_SCREENSHOT") == "1" {
		png, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(screenshotFile, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", screenshotFile)
	}
}

// tokenURLRE finds the page URL with the access token that wsbridge prints.
var tokenURLRE = regexp.MustCompile(`http://(\S+?)/\?token=([A-Z2-7]{20,})`)

// startOnAllInterfaces runs wsbridge on 0.0.0.0 and a free port with args,
// and returns it and the loopback address to reach it at.
func startOnAllInterfaces(t *testing.T, args ...string) (*server, string) {
	t.Helper()
	port := strconv.Itoa(freePort(t))
	s := startDaemon(t, nil, append([]string{"--address=0.0.0.0", "--port=" + port}, args...)...)
	return s, "127.0.0.1:" + port
}

// A writable terminal reachable from other hosts, with nothing else to
// authenticate its users, takes an access token made at startup: printed
// once in a URL on stderr and redacted in the log, required of every request (403 without,
// counted and logged as refused), kept in a cookie by the page opened with
// it, and never shown to the program.
func TestTerminalAccessToken(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s, addr := startOnAllInterfaces(t, "--terminal", "--writable", "--metrics-address="+metricsAddr,
		"sh", "-c", `echo "query=[$QUERY_STRING] uri=[$REQUEST_URI] cookie=[$HTTP_COOKIE]"; read x`)
	m := s.match(testTimeout, tokenURLRE)
	if m == nil {
		t.Fatalf("no URL with a token in the output:\n%s", s.Stderr())
	}
	token := m[2]
	// Printed once on stderr; the log has the URLs with the token redacted,
	// so no log file or collector ever holds it.
	s.waitLog(t, testTimeout, "level=INFO", `url="http://`, "?token=REDACTED")
	printed := map[string]int{}
	for _, line := range strings.Split(s.Stderr(), "\n") {
		if !strings.Contains(line, token) {
			continue
		}
		if !strings.HasPrefix(line, "    http://") {
			t.Errorf("the token outside the printed URLs (logged?): %s", line)
		}
		if printed[line]++; printed[line] > 1 {
			t.Errorf("printed more than once: %s", line)
		}
	}

	// Without the token: the upgrade and the page are refused.
	if code := dialStatus(t, "ws://"+addr+"/", &websocket.DialOptions{Subprotocols: []string{ttyProto}}); code != http.StatusForbidden {
		t.Fatalf("upgrade without the token: HTTP %d, want 403", code)
	}
	s.waitLog(t, testTimeout, "msg=refused", "reason=token")
	res, body := httpRequest(t, nil, "GET", "http://"+addr+"/", nil)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "?token=") {
		t.Fatalf("page without the token: %d %q, want 403 saying what is missing", res.StatusCode, body)
	}
	if code := dialStatus(t, "ws://"+addr+"/?token=WRONG", &websocket.DialOptions{Subprotocols: []string{ttyProto}}); code != http.StatusForbidden {
		t.Fatalf("upgrade with a wrong token: HTTP %d, want 403", code)
	}

	// The page opened with the token sets the cookie and sends the browser
	// on to the URL without it.
	res, _ = httpRequest(t, nil, "GET", "http://"+addr+"/?cols=100&token="+token, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "./?cols=100" {
		t.Fatalf("page with the token: %d, Location %q; want 303 to ./?cols=100", res.StatusCode, res.Header.Get("Location"))
	}
	cookies := res.Cookies()
	if len(cookies) != 1 || cookies[0].Value != token || !cookies[0].HttpOnly {
		t.Fatalf("page with the token set cookies %v, want one HttpOnly cookie with the token", cookies)
	}
	withCookie := http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value + "; other=1"}}
	if res, _ := httpRequest(t, nil, "GET", "http://"+addr+"/", withCookie); res.StatusCode == http.StatusForbidden {
		t.Fatalf("page with the cookie: 403")
	}

	// The upgrade is admitted by the cookie, or by ?token=; the program
	// sees neither.
	tc := ttyDial(t, "ws://"+addr+"/?cols=90", withCookie)
	tc.waitOutput(`query=\[cols=90\] uri=\[/\?cols=90\] cookie=\[other=1\]`)
	tc.send("x\r")
	if code, _ := tc.untilClose(); code != websocket.StatusNormalClosure {
		t.Fatalf("session with the cookie closed %d", code)
	}
	tc = ttyDial(t, "ws://"+addr+"/?token="+token+"&rows=20", nil)
	tc.waitOutput(`query=\[rows=20\] uri=\[/\?rows=20\] cookie=\[\]`)

	_, body = httpRequest(t, nil, "GET", "http://"+metricsAddr+"/metrics", nil)
	if v := metricValue(body, `wsbridge_handshakes_refused_total{reason="token"}`); v != "3" {
		t.Errorf("token refusals counted %q, want 3:\n%s", v, body)
	}
	for _, line := range strings.Split(s.Stderr(), "\n") {
		if strings.Contains(line, "msg=refused") && strings.Contains(line, token) {
			t.Errorf("a refusal logs the token: %s", line)
		}
	}
}

// Where the terminal is not reachable from other hosts, or something else
// authenticates, or --no-auth says so, there is no token. --no-auth on all
// interfaces warns.
func TestTerminalAccessTokenNotNeeded(t *testing.T) {
	t.Parallel()
	program := []string{"sh", "-c", "echo hello; read x"}
	dialAndHello := func(t *testing.T, url string, hdr http.Header) {
		t.Helper()
		tc := ttyDial(t, url, hdr)
		tc.waitOutput("hello")
	}
	t.Run("loopback", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, append([]string{"--terminal", "--writable"}, program...)...)
		dialAndHello(t, s.URL("/"), nil)
		if strings.Contains(s.Stderr(), "token=") {
			t.Errorf("a token on loopback:\n%s", s.Stderr())
		}
		// It says where to open the page, on stderr and in the log.
		s.waitLog(t, testTimeout, "level=INFO", `url=`+s.HTTPURL("/"))
		if !strings.Contains(s.Stderr(), "Open the terminal in a browser at:\n\n    "+s.HTTPURL("/")+"\n") {
			t.Errorf("no URL to open on stderr:\n%s", s.Stderr())
		}
	})
	t.Run("unix socket", func(t *testing.T) {
		t.Parallel()
		sock := filepath.Join(shortTempDir(t), "s")
		s := startDaemon(t, nil, append([]string{"--unixsocket=" + sock, "--terminal", "--writable"}, program...)...)
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, "unix", sock)
		}}}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws://localhost/", &websocket.DialOptions{HTTPClient: c, Subprotocols: []string{ttyProto}})
		if err != nil {
			t.Fatalf("upgrade on the unix socket: %v", err)
		}
		conn.CloseNow()
		if strings.Contains(s.Stderr(), "token=") {
			t.Errorf("a token on a unix socket:\n%s", s.Stderr())
		}
	})
	t.Run("credential", func(t *testing.T) {
		t.Parallel()
		s, addr := startOnAllInterfaces(t, append([]string{"--terminal", "--writable", "--credential=alice:secret"}, program...)...)
		dialAndHello(t, "ws://"+addr+"/", http.Header{"Authorization": {"Basic YWxpY2U6c2VjcmV0"}})
		if strings.Contains(s.Stderr(), "token=") {
			t.Errorf("a token with --credential:\n%s", s.Stderr())
		}
	})
	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		s, addr := startOnAllInterfaces(t, append([]string{"--terminal"}, program...)...)
		dialAndHello(t, "ws://"+addr+"/", nil)
		if strings.Contains(s.Stderr(), "token=") {
			t.Errorf("a token for a read-only terminal:\n%s", s.Stderr())
		}
	})
	t.Run("no-auth", func(t *testing.T) {
		t.Parallel()
		s, addr := startOnAllInterfaces(t, append([]string{"--terminal", "--writable", "--no-auth"}, program...)...)
		s.waitLog(t, testTimeout, "level=WARN", "--no-auth", "without any authentication")
		dialAndHello(t, "ws://"+addr+"/", nil)
		if strings.Contains(s.Stderr(), "token=") {
			t.Errorf("a token with --no-auth:\n%s", s.Stderr())
		}
	})
}

// Under systemd socket activation the sockets systemd passed decide: one on
// all interfaces takes the token, a loopback one does not.
func TestTerminalAccessTokenSocketActivation(t *testing.T) {
	t.Parallel()
	activate := need(t, "systemd-socket-activate", "socket activation test")
	bin := wsbridgeBinary(t)
	for _, host := range []string{"0.0.0.0", "127.0.0.1"} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			port := strconv.Itoa(freePort(t))
			p := startProgram(t, nil, activate, "-l", host+":"+port, bin, "--terminal", "--writable", "sh", "-c", "echo hello; read x")
			if p.match(10*time.Second, regexp.MustCompile(`Listening on `+regexp.QuoteMeta(host+":"+port))) == nil {
				if strings.Contains(p.Stderr(), "rror") {
					skipUnlessCI(t, "systemd-socket-activate cannot run here:\n"+p.Stderr())
				}
				t.Fatalf("systemd-socket-activate did not listen:\n%s", p.Stderr())
			}
			url := "ws://127.0.0.1:" + port + "/"
			if host == "127.0.0.1" {
				ttyDial(t, url, nil).waitOutput("hello")
				p.waitLog(t, testTimeout, "msg=listening")
				if strings.Contains(p.Stderr(), "token=") {
					t.Errorf("a token on a loopback socket:\n%s", p.Stderr())
				}
				return
			}
			// wsbridge starts with the first connection.
			if code := dialStatus(t, url, &websocket.DialOptions{Subprotocols: []string{ttyProto}}); code != http.StatusForbidden {
				t.Fatalf("upgrade without the token: HTTP %d, want 403", code)
			}
			m := p.match(testTimeout, tokenURLRE)
			if m == nil {
				t.Fatalf("no URL with a token:\n%s", p.Stderr())
			}
			ttyDial(t, url+"?token="+m[2], nil).waitOutput("hello")
		})
	}
}
