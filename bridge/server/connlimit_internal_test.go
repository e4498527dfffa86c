package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/ratelimit"
)

// TestLimitListener: the connection over a peer's limit is answered 429
// and closed in Accept, a trusted proxy is not counted, and a closed
// connection gives its place back (the table empties).
func TestLimitListener(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		trusted []string
		limited bool
	}{
		{"limited", nil, true},
		{"trusted proxy exempt", []string{"127.0.0.1"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			trusted, err := ParseTrustedProxies(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			cl := newConnLimits(1, ratelimit.Rate{}, trusted, slog.New(slog.DiscardHandler), func(string) {})
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := cl.listener(raw, true)
			defer l.Close()
			accepted := make(chan net.Conn, 4)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			dial := func() net.Conn {
				c, err := net.Dial("tcp", raw.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			first := dial()
			server1 := <-accepted
			second := dial()
			second.SetReadDeadline(time.Now().Add(5 * time.Second))
			if tt.limited {
				res, err := http.ReadResponse(bufio.NewReader(second), nil)
				if err != nil || res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
					t.Fatalf("second connection: %v %v, want 429 with Retry-After", res, err)
				}
				body, _ := io.ReadAll(res.Body)
				if int64(len(body)) != res.ContentLength {
					t.Errorf("body %d bytes, Content-Length %d", len(body), res.ContentLength)
				}
				first.Close()
				server1.Close()
				if n := cl.conns.Len(); n != 0 {
					t.Errorf("%d table entries after the close", n)
				}
				dial()
			}
			select {
			case c := <-accepted:
				c.Close()
			case <-time.After(5 * time.Second):
				t.Fatal("a connection within the limit was not accepted")
			}
			server1.Close()
			l.Close()
			<-done
		})
	}
}

// TestCountedConnSession: a session's count is given back when the
// request is done (idle) or, once hijacked, when the connection closes;
// holding it on a closed connection gives it back at once.
func TestCountedConnSession(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer b.Close()
	c := &countedConn{Conn: a}
	released := 0
	c.holdSession(func() { released++ })
	c.releaseSession()
	c.releaseSession()
	if released != 1 {
		t.Errorf("released %d times after the request, want 1", released)
	}
	c.holdSession(func() { released++ })
	c.Close()
	c.Close()
	if released != 2 {
		t.Errorf("released %d times after close, want 2", released)
	}
	c.holdSession(func() { released++ })
	if released != 3 {
		t.Errorf("hold on a closed connection not released at once")
	}
}
