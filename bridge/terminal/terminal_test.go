package terminal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/terminal"
)

// ttyConn is a test client of a terminal endpoint: output bytes and control
// messages as they arrive.
type ttyConn struct {
	t    testing.TB
	c    *websocket.Conn
	out  bytes.Buffer
	ctrl []map[string]any
}

func dialTTY(t testing.TB, url string, opts *websocket.DialOptions) *ttyConn {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.Subprotocols = []string{terminal.TTYSubprotocol}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return &ttyConn{t: t, c: c}
}

// read reads one message; a timer closes the connection if none comes.
func (tc *ttyConn) read() error {
	timer := time.AfterFunc(30*time.Second, func() { tc.c.CloseNow() })
	defer timer.Stop()
	typ, b, err := tc.c.Read(context.Background())
	if err != nil {
		return err
	}
	if typ == websocket.MessageBinary {
		tc.out.Write(b)
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tc.t.Errorf("control message %q: %v", b, err)
	}
	tc.ctrl = append(tc.ctrl, m)
	return nil
}

// waitOutput reads until the output holds want.
func (tc *ttyConn) waitOutput(want string) {
	tc.t.Helper()
	from := 0
	for !bytes.Contains(tc.out.Bytes()[from:], []byte(want)) {
		from = max(0, tc.out.Len()-len(want))
		if err := tc.read(); err != nil {
			out := tc.out.Bytes()
			tc.t.Fatalf("waiting for %q: %v; output (%d bytes) ends %q", want, err, len(out), out[max(0, len(out)-200):])
		}
	}
}

// untilClose reads everything up to the close and returns its status.
func (tc *ttyConn) untilClose() (websocket.StatusCode, string) {
	for {
		if err := tc.read(); err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, err.Error()
		}
	}
}

func (tc *ttyConn) send(s string) {
	tc.t.Helper()
	if err := tc.c.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		tc.t.Fatal(err)
	}
}

func TestTerminalSession(t *testing.T) {
	t.Parallel()
	_, _, srv := newServer(t, terminal.Options{Writable: true},
		"sh", "-c", `stty size; read x; echo "got-$x TERM=$TERM"; exit 3`)
	tc := dialTTY(t, wsURL(srv)+"/?cols=100&rows=30", nil)
	tc.waitOutput("30 100")
	if len(tc.ctrl) == 0 || tc.ctrl[0]["type"] != "hello" || tc.ctrl[0]["writable"] != true || tc.ctrl[0]["session"] != "" {
		t.Fatalf("control messages %v, want a writable hello without a token first", tc.ctrl)
	}
	tc.send("abc\r")
	tc.waitOutput("got-abc TERM=xterm-256color")
	if code, reason := tc.untilClose(); code != 4003 || reason != "exit status 3" {
		t.Fatalf("close %d %q", code, reason)
	}
}

// A client of a shared session that stops reading is dropped with 1013
// once it is too far behind; the fastest sets the pace and gets every byte.
//
// The fast client paces the flood itself: the program writes it in steps
// and waits for the fast client's ack of each before the next. The pump's
// pace is the fastest client's (it waits only while every client has output
// queued), and while the slow client's socket buffers still absorb output
// the slow one is the fastest: unpaced, with the fast client's side starved
// of CPU (its reader here, or the server's writer to it, under the race
// detector and parallel tests) the fast client could fall a queue's worth
// behind and be the one dropped. Paced, it is never more than one step
// behind, while the slow client's buffers fill and its queue overflows.
func TestTerminalSharedSlowClient(t *testing.T) {
	t.Parallel()
	const (
		flood = 12 << 20 // bytes of "y\n"; each line is "y\r\n" on the terminal
		step  = 16 << 10 // bytes of "y\n" per step
		steps = flood / step
		shown = step / 2 * 3 // output bytes of a step
	)
	// $s is a step without its last newline, which $(...) strips; printf
	// puts it back.
	_, _, srv := newServer(t, terminal.Options{Shared: true, Writable: true},
		"sh", "-c", fmt.Sprintf(`stty -echo; s=$(yes | head -c %d); echo waiting; read go
i=0; while [ $i -lt %d ]; do printf '%%s\n' "$s"; read ack; i=$((i+1)); done
echo; echo flood-done; read x`, step, steps))
	fast := dialTTY(t, wsURL(srv), nil)
	fast.waitOutput("waiting\r\n")
	start := fast.out.Len()
	// A socket nobody reads keeps its initial receive window: the server
	// can park only its send buffer (up to 4 MB here) in the kernel.
	slow := dialTTY(t, wsURL(srv), nil)
	// Both are attached once the second has its hello.
	for len(slow.ctrl) == 0 {
		if err := slow.read(); err != nil {
			t.Fatal(err)
		}
	}
	fast.send("go\r")
	// The slow client reads nothing until the fast one is 8 MB in: more
	// than its socket buffers and its queue hold. Then it reads what was
	// sent to it, and the close.
	type result struct {
		code   websocket.StatusCode
		reason string
		n      int
	}
	slowDone := make(chan result, 1)
	slowReading := false
	for i := 1; i <= steps; i++ {
		for fast.out.Len()-start < i*shown {
			if err := fast.read(); err != nil {
				t.Fatalf("step %d of %d: %v", i, steps, err)
			}
		}
		if !slowReading && fast.out.Len() >= 8<<20 {
			slowReading = true
			go func() {
				code, reason := slow.untilClose()
				slowDone <- result{code, reason, slow.out.Len()}
			}()
		}
		fast.send("\r") // the ack
	}
	fast.waitOutput("flood-done")
	if n := bytes.Count(fast.out.Bytes(), []byte("y\r\n")); n != flood/2 {
		t.Fatalf("fast client got %d lines of the flood, want %d", n, flood/2)
	}
	r := <-slowDone
	if r.code != websocket.StatusTryAgainLater || r.reason != "too slow for the shared session" {
		t.Fatalf("slow client closed with %d %q, want 1013", r.code, r.reason)
	}
	if r.n >= flood {
		t.Fatalf("slow client got all %d bytes", r.n)
	}
	fast.send("bye\r")
	if code, _ := fast.untilClose(); code != websocket.StatusNormalClosure {
		t.Fatalf("fast client closed with %d", code)
	}
}

// Shutdown ends attached and detached (resumable) sessions alike: their
// processes get the kill sequence and attached clients 1001.
func TestTerminalShutdown(t *testing.T) {
	t.Parallel()
	h, k, srv := newServer(t, terminal.Options{Reconnect: time.Hour}, "sh", "-c", "echo up; exec sleep 60")
	attached := dialTTY(t, wsURL(srv), nil)
	attached.waitOutput("up")
	gone := dialTTY(t, wsURL(srv), nil)
	gone.waitOutput("up")
	gone.c.CloseNow()
	for k.Clients() != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	if h.Active() != 2 {
		t.Fatalf("%d processes, want 2", h.Active())
	}
	closed := make(chan websocket.StatusCode, 1)
	go func() {
		code, _ := attached.untilClose()
		closed <- code
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := <-closed; code != websocket.StatusGoingAway {
		t.Fatalf("close %d, want 1001", code)
	}
	if h.Active() != 0 || k.Clients() != 0 {
		t.Fatalf("after shutdown: %d processes, %d clients", h.Active(), k.Clients())
	}
}

// A program that does not read its terminal must not hold up the client's
// reader: after a paste far larger than the terminal takes, control
// messages still work and the client's leaving still stops the program.
func TestTerminalInputNeverBlocksReader(t *testing.T) {
	t.Parallel()
	h, _, srv := newServer(t, terminal.Options{Writable: true},
		"bash", "-c", `stty raw -echo; echo ready; exec sleep 60`)
	tc := dialTTY(t, wsURL(srv), nil)
	tc.waitOutput("ready")
	paste := bytes.Repeat([]byte("x"), 32<<10)
	for i := 0; i < 64; i++ { // 2 MiB: more than the terminal and the queue hold
		if err := tc.c.Write(context.Background(), websocket.MessageBinary, paste); err != nil {
			t.Fatal(err)
		}
	}
	// The ping needs the server's reader to answer it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read := make(chan struct{})
	go func() { // a reader of our own, to see the pong
		defer close(read)
		for tc.read() == nil {
		}
	}()
	if err := tc.c.Ping(ctx); err != nil {
		t.Fatalf("ping after the paste: %v", err)
	}
	tc.c.Close(websocket.StatusNormalClosure, "")
	<-read
	for h.Active() > 0 {
		if ctx.Err() != nil {
			t.Fatal("the program still runs after its client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
