package broadcast_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/bridge/broadcast/envelope"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// capture keeps the hijacked connection's writer as the client's Corker.
// With small set (?small), the socket's send buffer is small, so that a
// client that does not read is found out after little output; a client
// that reads needs the usual buffer, or delayed ACKs throttle it.
type capture struct {
	http.ResponseWriter
	small bool
	out   *plainCorker
}

func (c *capture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := c.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if c.small {
		conn.(*net.TCPConn).SetWriteBuffer(4096)
	}
	c.out = &plainCorker{conn: conn}
	return conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(c.out, 512)), nil
}

type plainCorker struct {
	mu   sync.Mutex
	conn net.Conn
}

func (p *plainCorker) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn.Write(b)
}
func (p *plainCorker) Cork()                  {}
func (p *plainCorker) Uncork() error          { return nil }
func (p *plainCorker) TryWrite([]byte) int    { return 0 } // always the writer's
func (p *plainCorker) TryWritev([][]byte) int { return 0 }
func (p *plainCorker) Flush() error           { return nil }

type counts struct {
	groups, clients, slow, restarts, in, out, delivered atomic.Int64
}

func (c *counts) GroupStarted()   { c.groups.Add(1) }
func (c *counts) GroupEnded()     { c.groups.Add(-1) }
func (c *counts) ClientAttached() { c.clients.Add(1) }
func (c *counts) ClientDetached() { c.clients.Add(-1) }
func (c *counts) SlowClosed()     { c.slow.Add(1) }
func (c *counts) Restarted()      { c.restarts.Add(1) }
func (c *counts) Messages(in, out, delivered int64) {
	c.in.Add(in)
	c.out.Add(out)
	c.delivered.Add(delivered)
}

// newHub serves a hub whose groups run sh -c script.
func newHub(t *testing.T, opts broadcast.Options, script string) (*broadcast.Hub, *counts, string) {
	t.Helper()
	obs := new(counts)
	opts.Observer = obs
	hub := broadcast.NewHub(opts)
	var ids atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hub.ReserveClient() {
			http.Error(w, "full", http.StatusServiceUnavailable)
			return
		}
		hc := &capture{ResponseWriter: w, small: r.URL.RawQuery == "small"}
		conn, err := websocket.Accept(hc, r, nil)
		if err != nil {
			hub.ReleaseClient()
			return
		}
		conn.SetReadLimit(-1)
		id := fmt.Sprint("c", ids.Add(1))
		c := broadcast.NewClient(conn, hc.out, envelope.ClientInfo{ID: id, Path: r.URL.Path})
		prog := broadcast.Program{
			Start: func([]string) (*process.Process, error) {
				return process.Start(process.Config{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Env: []string{"PATH=" + os.Getenv("PATH")}})
			},
			Claim: func() bool { return true },
			Log:   slog.New(slog.DiscardHandler),
		}
		if r.URL.RawQuery == "shutting-down" {
			// The gate's answer to Track once its shutdown has begun.
			prog.Track = func(session.Member) bool { return false }
		}
		if _, err := hub.Join(r.URL.Path, c, prog, false); err != nil {
			hub.ReleaseClient()
			conn.Close(websocket.StatusInternalError, err.Error())
		}
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hub.Shutdown(ctx)
		srv.Close()
	})
	return hub, obs, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, url string, readBuffer int) *websocket.Conn {
	t.Helper()
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err == nil && readBuffer > 0 {
			conn.(*net.TCPConn).SetReadBuffer(readBuffer)
		}
		return conn, err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func write(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func closeCode(c *websocket.Conn) (websocket.StatusCode, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, err.Error()
		}
	}
}

func TestFanOutAndFanIn(t *testing.T) {
	t.Parallel()
	hub, obs, url := newHub(t, broadcast.Options{}, "exec cat")
	a, b := dial(t, url+"/g", 0), dial(t, url+"/g", 0)
	other := dial(t, url+"/h", 0)
	write(t, b, "sync")
	read(t, a)
	read(t, b)
	write(t, a, "from a")
	write(t, other, "from other")
	for _, c := range []*websocket.Conn{a, b} {
		if got := read(t, c); got != "from a" {
			t.Fatalf("got %q, want \"from a\"", got)
		}
	}
	if got := read(t, other); got != "from other" {
		t.Fatalf("got %q", got)
	}
	if n := obs.groups.Load(); n != 2 {
		t.Fatalf("%d groups, want 2", n)
	}
	for _, c := range []*websocket.Conn{a, b, other} {
		c.Close(websocket.StatusNormalClosure, "")
	}
	hub.Wait() // the last client out stopped each program
	if obs.groups.Load() != 0 || obs.clients.Load() != 0 || hub.Clients() != 0 {
		t.Fatalf("after everyone left: %d groups, %d clients (hub: %d)", obs.groups.Load(), obs.clients.Load(), hub.Clients())
	}
	if in, out, delivered := obs.in.Load(), obs.out.Load(), obs.delivered.Load(); in != 3 || out != 3 || delivered != 5 {
		t.Fatalf("messages in/out/delivered %d/%d/%d, want 3/3/5", in, out, delivered)
	}
}

// A client that does not read is closed with 1013 once its queue is full;
// one that reads gets every line, at the program's pace (bursts of 20 KB
// that a client keeps up with even under the race detector). The slow
// client reads again once it is found out, well within the few seconds its
// close frame is given.
func TestSlowClientIsClosed(t *testing.T) {
	t.Parallel()
	const lines = 20000
	hub, obs, url := newHub(t, broadcast.Options{ClientQueue: 512 << 10},
		fmt.Sprintf(`read go; i=0; while [ $i -lt %d ]; do echo "line $i ................................................................................"; i=$((i+1)); [ $((i %% 200)) = 0 ] && sleep 0.01; done`, lines))
	slow := dial(t, url+"/?small", 4096)
	fast := dial(t, url+"/", 0)
	slowClosed := make(chan string, 1)
	go func() {
		for obs.slow.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		code, reason := closeCode(slow)
		slowClosed <- fmt.Sprint(int(code), " ", reason)
	}()
	write(t, fast, "go")
	for i := range lines {
		got := readOr(t, fast, i)
		if !strings.HasPrefix(got, fmt.Sprintf("line %d ", i)) {
			t.Fatalf("reading client: %q, want line %d", got, i)
		}
	}
	if code, _ := closeCode(fast); code != websocket.StatusNormalClosure {
		t.Fatalf("reading client closed with %d, want 1000", code)
	}
	if got := <-slowClosed; got != "1013 too slow" {
		t.Fatalf("slow client closed with %q, want 1013 too slow", got)
	}
	hub.Wait()
	if n := obs.slow.Load(); n != 1 {
		t.Fatalf("%d slow closes, want 1", n)
	}
}

// TestGroupStartedDuringShutdown: a group whose first client arrives as the
// gate shuts down (Track refuses it) goes away at once, and its client gets
// 1001. GoAway takes the hub's lock, so Join must not hold it then.
func TestGroupStartedDuringShutdown(t *testing.T) {
	t.Parallel()
	_, _, url := newHub(t, broadcast.Options{}, "exec cat")
	a := dial(t, url+"/?shutting-down", 0)
	if code, reason := closeCode(a); code != websocket.StatusGoingAway {
		t.Fatalf("close %d %q, want 1001", code, reason)
	}
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	t.Parallel()
	hub, _, url := newHub(t, broadcast.Options{}, "exec cat")
	a := dial(t, url+"/", 0)
	write(t, a, "x")
	read(t, a)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- hub.Shutdown(ctx)
	}()
	if code, _ := closeCode(a); code != websocket.StatusGoingAway {
		t.Fatalf("close %d, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRestartKeepsClients(t *testing.T) {
	t.Parallel()
	hub, obs, url := newHub(t, broadcast.Options{Restart: broadcast.RestartOnFailure, Replay: 10}, `echo run; read x; exit 1`)
	a := dial(t, url+"/", 0)
	for i := range 3 {
		if got := read(t, a); got != "run" {
			t.Fatalf("run %d: got %q", i, got)
		}
		write(t, a, "crash")
	}
	read(t, a)
	if n := obs.restarts.Load(); n < 3 {
		t.Fatalf("%d restarts, want 3 or more", n)
	}
	a.Close(websocket.StatusNormalClosure, "")
	hub.Wait()
}

func TestMaxClients(t *testing.T) {
	t.Parallel()
	hub := broadcast.NewHub(broadcast.Options{MaxClients: 2})
	if !hub.ReserveClient() || !hub.ReserveClient() {
		t.Fatal("refused below the limit")
	}
	if hub.ReserveClient() {
		t.Fatal("a third client over --max-clients=2")
	}
	hub.ReleaseClient()
	if !hub.ReserveClient() {
		t.Fatal("a place given back was not free")
	}
	if hub.Clients() != 2 {
		t.Fatalf("%d clients, want 2", hub.Clients())
	}
}

// TestMaxGroups: a client that would start a group beyond --max-groups is
// refused; one of a group already starting is not, and a place is free
// again once the starter gave up.
func TestMaxGroups(t *testing.T) {
	t.Parallel()
	hub := broadcast.NewHub(broadcast.Options{MaxGroups: 1})
	if ok, err := hub.Starter("/a"); !ok || err != nil {
		t.Fatalf("first group: starter %t, %v", ok, err)
	}
	if _, err := hub.Starter("/b"); !errors.Is(err, broadcast.ErrGroupsFull) {
		t.Fatalf("second group over --max-groups=1: %v", err)
	}
	if ok, err := hub.Starter("/a"); ok || err != nil {
		t.Fatalf("a client of the starting group: starter %t, %v", ok, err)
	}
	hub.Started("/a")
	if ok, err := hub.Starter("/b"); !ok || err != nil {
		t.Fatalf("once /a's starter gave up: starter %t, %v", ok, err)
	}
}

func TestParseRestart(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]broadcast.Restart{"": broadcast.RestartNever, "never": broadcast.RestartNever, "on-failure": broadcast.RestartOnFailure, "always": broadcast.RestartAlways} {
		if got, err := broadcast.ParseRestart(in); err != nil || got != want {
			t.Errorf("ParseRestart(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := broadcast.ParseRestart("sometimes"); err == nil {
		t.Error("sometimes accepted")
	}
}

var _ io.Writer = (*plainCorker)(nil)

func readOr(t *testing.T, c *websocket.Conn, i int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read %d: %v", i, err)
	}
	return string(b)
}
