package terminal_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/bridge/terminal"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newServer serves terminal sessions of argv with opts behind a gate.
func newServer(t testing.TB, opts terminal.Options, argv ...string) (*bridge.Handler, *terminal.Kind, *httptest.Server) {
	t.Helper()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	k := terminal.New(opts)
	h := bridge.New(bridge.Options{
		Kind:    k,
		Command: session.Command{Path: path, Args: argv},
		PassEnv: []string{"PATH"},
		Logger:  slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return h, k, srv
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }
