package bridge_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

func newServer(t testing.TB, opts bridge.Options, argv ...string) (*bridge.Handler, *httptest.Server) {
	t.Helper()
	if opts.Kind == nil {
		opts.Kind = pipe.New(pipe.Options{})
	}
	return gatetest.Serve(t, opts, argv...)
}

func wsURL(srv *httptest.Server) string { return gatetest.URL(srv) }

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

// logBuffer is a text log the tests read back.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRefusalsLogged(t *testing.T) {
	t.Parallel()
	notExecutable := func(*http.Request) (session.Endpoint, error) {
		return session.Endpoint{}, &bridge.NoEndpointError{Reason: bridge.ReasonNotExecutable, Hint: "chmod +x /srv/x.sh"}
	}
	bare := func(*http.Request) (session.Endpoint, error) { return session.Endpoint{}, session.ErrNoEndpoint }
	tests := []struct {
		name     string
		resolve  func(*http.Request) (session.Endpoint, error)
		shutdown bool
		upgrade  bool
		status   int
		logged   string // "": nothing
	}{
		{"not executable", notExecutable, false, true, 404, `level=DEBUG+3 msg=refused remote=127.0.0.1:`},
		{"not executable hint", notExecutable, false, true, 404, `path=/x.sh reason="not executable" hint="chmod +x /srv/x.sh"`},
		{"no reason given", bare, false, true, 404, `reason="not found"`},
		{"shutting down", nil, true, true, 503, `reason="shutting down"`},
		// The daemon's router logs plain requests with their status.
		{"not an upgrade", nil, false, false, 426, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := new(logBuffer)
			h, srv := newServer(t, bridge.Options{
				Resolve: tt.resolve,
				Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			}, "cat")
			if tt.shutdown {
				h.Shutdown(context.Background())
			}
			status := 0
			if tt.upgrade {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, resp, err := websocket.Dial(ctx, wsURL(srv)+"/x.sh", nil)
				if err == nil {
					t.Fatal("upgraded")
				}
				status = resp.StatusCode
			} else {
				resp, err := http.Get(srv.URL + "/x.sh")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			out := logs.String()
			if n := strings.Count(out, "msg=refused"); tt.logged == "" && n != 0 || tt.logged != "" && (n != 1 || !strings.Contains(out, tt.logged)) {
				t.Errorf("log:\n%s\nwant one refusal with %q", out, tt.logged)
			}
		})
	}
}
