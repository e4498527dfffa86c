// Package gatetest serves a program behind a real gate and session kind, on
// a loopback test server, and builds raw client frames, for the tests of
// the gate, the kinds and the daemon.
package gatetest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// Serve runs argv (looked up in PATH) for the sessions of opts.Kind behind
// a gate made from opts, with PATH passed on and logs discarded unless
// opts says otherwise. At cleanup the gate shuts down, ending its sessions,
// and the server closes.
func Serve(t testing.TB, opts bridge.Options, argv ...string) (*bridge.Handler, *httptest.Server) {
	t.Helper()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	opts.Command = session.Command{Path: path, Args: argv}
	if opts.PassEnv == nil {
		opts.PassEnv = []string{"PATH"}
	}
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

// URL is the ws:// URL of srv.
func URL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }
