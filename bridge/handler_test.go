package bridge_test

import (
	"context"
	"github.com/wsbridge/wsbridge/bridge/session"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/pipe"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newServer(t testing.TB, opts bridge.Options, argv ...string) (*bridge.Handler, *httptest.Server) {
	t.Helper()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	opts.Command = session.Command{Path: path, Args: argv}
	if opts.Kind == nil {
		opts.Kind = pipe.New(pipe.Options{})
	}
	opts.PassEnv = []string{"PATH"}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := bridge.New(opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return h, srv
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

func TestNotAnUpgrade(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, bridge.Options{}, "cat")
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("status %d, Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
}

func TestResolveNotFound(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, bridge.Options{Resolve: func(*http.Request) (session.Endpoint, error) {
		return session.Endpoint{}, session.ErrNoEndpoint
	}}, "cat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, wsURL(srv), nil)
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("err %v, response %v; want 404", err, resp)
	}
}
