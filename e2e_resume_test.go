package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// End-to-end tests of the subprotocol wsbridge.broadcast.v1 (issue 19):
// messages with their offset and epoch, a client that reconnects with
// ?since=&epoch= getting exactly what it missed, reset and owner events.

const v1Proto = "wsbridge.broadcast.v1"

// v1Msg is one message of the subprotocol.
type v1Msg struct {
	Offset   uint64 `json:"offset"`
	Epoch    string `json:"epoch"`
	Data     string `json:"data"`
	Encoding string `json:"encoding"`
	Event    string `json:"event"`
	Program  string `json:"program"`
}

func dialV1(t testing.TB, u string, since uint64, epoch string) *websocket.Conn {
	t.Helper()
	if epoch != "" {
		u += fmt.Sprintf("?since=%d&epoch=%s", since, url.QueryEscape(epoch))
	}
	c := dialOpts(t, u, &websocket.DialOptions{Subprotocols: []string{v1Proto}})
	if c.Subprotocol() != v1Proto {
		t.Fatalf("subprotocol %q, want %s", c.Subprotocol(), v1Proto)
	}
	return c
}

func readV1(t testing.TB, c *websocket.Conn) v1Msg {
	t.Helper()
	var m v1Msg
	raw := readText(t, c)
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("not a message of the subprotocol: %q: %v", raw, err)
	}
	return m
}

// readV1Data reads until a data message, skipping owner events.
func readV1Data(t testing.TB, c *websocket.Conn) v1Msg {
	t.Helper()
	for {
		if m := readV1(t, c); m.Event != "owner" {
			return m
		}
	}
}

// say makes cat echo msgs to every client, through a plain client that
// reads each back (so that they are delivered before the next step).
func say(t testing.TB, plain *websocket.Conn, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		writeText(t, plain, m)
		if got := readText(t, plain); got != m {
			t.Fatalf("plain client got %q, want %q", got, m)
		}
	}
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// expectData reads want's messages in order, each once, with offsets that
// rise; it returns the last.
func expectData(t testing.TB, c *websocket.Conn, epoch string, after uint64, want []string) v1Msg {
	t.Helper()
	last := v1Msg{Offset: after, Epoch: epoch}
	for _, w := range want {
		m := readV1Data(t, c)
		if m.Data != w || m.Epoch != epoch || m.Offset <= last.Offset {
			t.Fatalf("got %+v after offset %d, want %q of epoch %s", m, last.Offset, w, epoch)
		}
		last = m
	}
	return last
}

// One machine: a client that went away gets exactly the messages it
// missed, then the live ones; a plain client keeps plain messages.
func TestBroadcastResumeOneMachine(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--replay=2", "cat")
	plain := dial(t, s.URL("/r"))
	a := dialV1(t, s.URL("/r"), 0, "")
	say(t, plain, seq("m", 1, 5)...)
	first := readV1Data(t, a)
	if first.Data != "m1" || first.Epoch == "" || first.Offset == 0 {
		t.Fatalf("first message %+v, want m1 with an offset and an epoch", first)
	}
	last := expectData(t, a, first.Epoch, first.Offset, seq("m", 2, 5))
	a.Close(websocket.StatusNormalClosure, "")
	say(t, plain, seq("n", 1, 50)...) // missed
	a = dialV1(t, s.URL("/r"), last.Offset, last.Epoch)
	last = expectData(t, a, first.Epoch, last.Offset, seq("n", 1, 50))
	say(t, plain, "live")
	expectData(t, a, first.Epoch, last.Offset, []string{"live"})

	// Resuming at the newest offset: nothing is repeated, the next
	// message is the first.
	b := dialV1(t, s.URL("/r"), last.Offset+1, last.Epoch)
	say(t, plain, "next")
	if m := readV1Data(t, b); m.Data != "next" {
		t.Fatalf("got %+v, want next", m)
	}
}

// An unknown epoch, or history past what is kept, gets a reset event and
// then the --replay.
func TestBroadcastResumeReset(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--replay=2", "cat")
	plain := dial(t, s.URL("/r"))
	a := dialV1(t, s.URL("/r"), 0, "")
	say(t, plain, "x1", "x2", "x3")
	m := expectData(t, a, readV1Data(t, a).Epoch, 0, []string{"x2", "x3"})
	epoch := m.Epoch

	b := dialV1(t, s.URL("/r"), 2, "not-the-epoch")
	if r := readV1(t, b); r.Event != "reset" || r.Epoch != epoch {
		t.Fatalf("got %+v, want a reset event with epoch %s", r, epoch)
	}
	expectData(t, b, epoch, 0, []string{"x2", "x3"})

	// More than the ring keeps for resuming (1024 messages) while away.
	a.Close(websocket.StatusNormalClosure, "")
	var many []string
	for i := range 1100 {
		many = append(many, fmt.Sprintf("y%d", i))
	}
	say(t, plain, many...)
	c := dialV1(t, s.URL("/r"), m.Offset, epoch)
	if r := readV1(t, c); r.Event != "reset" {
		t.Fatalf("got %+v, want a reset event: the history was trimmed", r)
	}
	expectData(t, c, epoch, 0, []string{"y1098", "y1099"})

	if code := dialStatus(t, s.URL("/r?since=x&epoch=e"), &websocket.DialOptions{Subprotocols: []string{v1Proto}}); code != 400 {
		t.Fatalf("a malformed since: status %d, want 400", code)
	}
}

// The subprotocol beside --subprotocol: a client offering the server's
// gets plain messages, one offering wsbridge.broadcast.v1 (alone or too)
// gets its form; binary data goes as base64.
func TestBroadcastV1BesideSubprotocol(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--binary", "--subprotocol=chat", "cat")
	app := dialOpts(t, s.URL("/"), &websocket.DialOptions{Subprotocols: []string{"chat"}})
	if app.Subprotocol() != "chat" {
		t.Fatalf("subprotocol %q, want chat", app.Subprotocol())
	}
	both := dialOpts(t, s.URL("/"), &websocket.DialOptions{Subprotocols: []string{"chat", v1Proto}})
	if both.Subprotocol() != v1Proto {
		t.Fatalf("offering both: subprotocol %q, want %s", both.Subprotocol(), v1Proto)
	}
	ctx := t.Context()
	if err := app.Write(ctx, websocket.MessageBinary, []byte{0, 1, 0xff}); err != nil {
		t.Fatal(err)
	}
	if typ, b := readMsg(t, app); typ != websocket.MessageBinary || string(b) != "\x00\x01\xff" {
		t.Fatalf("plain client got %v %q", typ, b)
	}
	m := readV1Data(t, both)
	if m.Encoding != "base64" || m.Data != "AAH/" {
		t.Fatalf("v1 client got %+v, want base64 AAH/", m)
	}
}

// A program restarted under --restart is announced to the subprotocol's
// clients, and each program learns its own ID and the epoch from its
// environment.
func TestBroadcastOwnerEvent(t *testing.T) {
	t.Parallel()
	prog := script(t, `echo "start $WSBRIDGE_PROGRAM $WSBRIDGE_EPOCH"; read x; exit 1`)
	s := startServer(t, "--broadcast", "--replay=1", "--restart=on-failure", prog)
	a := dialV1(t, s.URL("/"), 0, "")
	first := readV1(t, a) // the replay: the first program's line
	f := strings.Fields(first.Data)
	if len(f) != 3 || f[0] != "start" || f[2] != first.Epoch {
		t.Fatalf("got %+v, want the start line with the program's ID and the epoch", first)
	}
	writeText(t, a, "crash")
	owner := readV1(t, a)
	if owner.Event != "owner" || owner.Program == "" || owner.Program == f[1] || owner.Epoch != first.Epoch || owner.Offset <= first.Offset {
		t.Fatalf("got %+v, want an owner event for a new program after %+v", owner, first)
	}
	again := readV1(t, a)
	if again.Data != "start "+owner.Program+" "+first.Epoch || again.Offset <= owner.Offset {
		t.Fatalf("got %+v, want the new program's line naming %s", again, owner.Program)
	}
}

// With --redis: a client resumes on another instance, whose group opens
// for it (the history comes from the output stream), and back on the
// first (from what it delivered); an unknown epoch gets a reset.
func TestRedisResume(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	ss := startInstances(t, r, 2, "--replay=2", "cat")
	plain := dial(t, ss[0].URL("/r"))
	a := dialV1(t, ss[0].URL("/r"), 0, "")
	time.Sleep(100 * time.Millisecond) // both attached before the first message
	say(t, plain, seq("m", 1, 5)...)
	first := readV1Data(t, a)
	if first.Data != "m1" || first.Epoch == "" {
		t.Fatalf("first message %+v, want m1 with an epoch", first)
	}
	epoch := first.Epoch
	last := expectData(t, a, epoch, first.Offset, seq("m", 2, 5))
	a.Close(websocket.StatusNormalClosure, "")

	say(t, plain, seq("n", 1, 50)...)
	b := dialV1(t, ss[1].URL("/r"), last.Offset, epoch)
	last = expectData(t, b, epoch, last.Offset, seq("n", 1, 50))
	say(t, plain, "live")
	last = expectData(t, b, epoch, last.Offset, []string{"live"})
	b.Close(websocket.StatusNormalClosure, "")

	say(t, plain, seq("p", 1, 20)...)
	a = dialV1(t, ss[0].URL("/r"), last.Offset, epoch)
	last = expectData(t, a, epoch, last.Offset, seq("p", 1, 20))
	say(t, plain, "again")
	expectData(t, a, epoch, last.Offset, []string{"again"})

	c := dialV1(t, ss[1].URL("/r"), 3, "not-the-epoch")
	if m := readV1(t, c); m.Event != "reset" || m.Epoch != epoch {
		t.Fatalf("got %+v, want a reset event with epoch %s", m, epoch)
	}
	expectData(t, c, epoch, 0, []string{"p20", "again"})
}

// The owner killed (kill -9): a client of the subprotocol on the surviving
// instance is told that a new program took over (owner event) before that
// program's output, and nothing it was sent before is repeated. The
// silence lasts the lease's expiry and a third of the lease (the old
// owner's fence, see man/cluster.md); the test logs it.
func TestRedisFailoverOwnerEvent(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog := script(t, `echo "pid $$"; exec cat`)
	// WSBRIDGE_TEST_LEASE measures another lease (man/cluster.md).
	lease := time.Second
	if v := os.Getenv("WSBRIDGE_TEST_LEASE"); v != "" {
		var err error
		if lease, err = time.ParseDuration(v); err != nil {
			t.Fatalf("WSBRIDGE_TEST_LEASE: %v", err)
		}
	}
	ss := startInstances(t, r, 2, "--lease="+lease.String(), "--replay=1", prog)
	ca := dial(t, ss[0].URL("/")) // its instance takes the lease
	pid := pidOf(t, readText(t, ca))
	cb := dialV1(t, ss[1].URL("/"), 0, "")
	first := readV1Data(t, cb)
	if first.Data != fmt.Sprintf("pid %d", pid) {
		t.Fatalf("b's replay %+v", first)
	}
	writeText(t, cb, "before")
	last := expectData(t, cb, first.Epoch, first.Offset, []string{"before"})
	waitInputRecorded(t, r, "wsbridge:{/}:")
	ss[0].signal(t, syscall.SIGKILL)
	killed := time.Now()
	killGroup(pid)
	writeText(t, cb, "during the gap")
	owner := readV1(t, cb)
	silence := time.Since(killed)
	if owner.Event != "owner" || owner.Program == "" || owner.Epoch != first.Epoch || owner.Offset <= last.Offset {
		t.Fatalf("got %+v, want an owner event after offset %d", owner, last.Offset)
	}
	next := readV1Data(t, cb)
	if !strings.HasPrefix(next.Data, "pid ") || next.Data == first.Data || next.Offset <= owner.Offset {
		t.Fatalf("got %+v, want the new program's pid after the owner event", next)
	}
	expectData(t, cb, first.Epoch, next.Offset, []string{"during the gap"})
	t.Logf("owner event %v after the kill (--lease=%v)", silence.Round(time.Millisecond), lease)
	if silence > lease+lease/3+2*time.Second {
		t.Fatalf("the owner event came %v after the kill, want about the lease and a third", silence)
	}
}

// The helper is served under --broadcast only.
func TestBroadcastClientServed(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "cat")
	res, body := httpRequest(t, http.DefaultClient, "GET", s.HTTPURL("/.wsbridge/broadcast.js"), nil)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(body, "function wsbridgeBroadcast") {
		t.Fatalf("GET /.wsbridge/broadcast.js: %d %s %.80q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	p := startServer(t, "cat")
	if res, _ := httpRequest(t, http.DefaultClient, "GET", p.HTTPURL("/.wsbridge/broadcast.js"), nil); res.StatusCode == 200 {
		t.Fatal("the broadcast helper is served without --broadcast")
	}
}

// With --redis, history trimmed from the stream (--redis-stream-bytes)
// cannot be resumed: the client is reset and gets the --replay.
func TestRedisResumeTrimmed(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	// A resume may be up to half of --client-queue: 4 MiB, more than the
	// stream holds, so the reset is the trim's.
	ss := startInstances(t, r, 2, "--replay=2", "--redis-stream-bytes=1048576", "--client-queue=8388608", "cat")
	plain := dial(t, ss[0].URL("/t"))
	a := dialV1(t, ss[0].URL("/t"), 0, "")
	time.Sleep(100 * time.Millisecond)
	say(t, plain, "first")
	m := readV1Data(t, a)
	a.Close(websocket.StatusNormalClosure, "")
	pad := strings.Repeat("x", 10000)
	var many []string
	for i := range 150 {
		many = append(many, fmt.Sprintf("%d%s", i, pad))
	}
	say(t, plain, many...) // 1.5 MB: the stream keeps about 1 MiB
	b := dialV1(t, ss[1].URL("/t"), m.Offset, m.Epoch)
	if r := readV1(t, b); r.Event != "reset" || r.Epoch != m.Epoch {
		t.Fatalf("got %+v, want a reset event: the history was trimmed", r)
	}
	expectData(t, b, m.Epoch, 0, many[148:])
	say(t, plain, "live")
	expectData(t, b, m.Epoch, 0, []string{"live"})
}
