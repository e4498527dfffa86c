package pipe_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/gatetest"
	"github.com/wsbridge/wsbridge/bridge/pipe"
	"github.com/wsbridge/wsbridge/bridge/session"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newServer(t testing.TB, opts bridge.Options, po pipe.Options, argv ...string) (*bridge.Handler, *httptest.Server) {
	t.Helper()
	opts.Kind = pipe.New(po)
	return gatetest.Serve(t, opts, argv...)
}

func wsURL(srv *httptest.Server) string { return gatetest.URL(srv) }

func dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEcho(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, bridge.Options{}, pipe.Options{MaxFrameSize: 1 << 20}, "cat")
	c := dial(t, wsURL(srv))
	defer c.CloseNow()
	ctx := context.Background()
	for _, m := range []string{"one", "two", ""} {
		c.Write(ctx, websocket.MessageText, []byte(m))
	}
	for _, want := range []string{"one", "two", ""} {
		_, b, err := c.Read(ctx)
		if err != nil || string(b) != want {
			t.Fatalf("read %q, %v; want %q", b, err, want)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func TestExitCloseCode(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, bridge.Options{}, pipe.Options{}, "sh", "-c", "echo hi; exit 7")
	c := dial(t, wsURL(srv))
	defer c.CloseNow()
	_, b, _ := c.Read(context.Background())
	_, _, err := c.Read(context.Background())
	if string(b) != "hi" || websocket.CloseStatus(err) != 4007 {
		t.Fatalf("got %q then %v, want hi then close 4007", b, err)
	}
}

func TestShutdownGoesAway(t *testing.T) {
	t.Parallel()
	h, srv := newServer(t, bridge.Options{}, pipe.Options{}, "sh", "-c", "echo up; while :; do sleep 0.05; done")
	c := dial(t, wsURL(srv))
	defer c.CloseNow()
	c.Read(context.Background())
	if h.Active() != 1 {
		t.Fatalf("Active() = %d, want 1", h.Active())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(context.Background())
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("got %v, want close 1001", err)
	}
	if h.Active() != 0 {
		t.Fatalf("Active() = %d after shutdown", h.Active())
	}
	// New sessions are refused while shutting down.
	_, resp, err := websocket.Dial(ctx, wsURL(srv), nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err %v, response %v; want 503", err, resp)
	}
}

func TestSpawnFailureClosesWithReason(t *testing.T) {
	t.Parallel()
	h := bridge.New(bridge.Options{
		Kind:    pipe.New(pipe.Options{}),
		Command: session.Command{Path: "/nonexistent/wsbridge-test", Args: []string{"x"}},
		Logger:  slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := dial(t, wsURL(srv))
	defer c.CloseNow()
	_, _, err := c.Read(context.Background())
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusInternalError || !strings.Contains(ce.Reason, "spawn") {
		t.Fatalf("got %v, want 1011 naming the spawn failure", err)
	}
}
