package broadcast_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/bridge/broadcast/envelope"
	"github.com/wsbridge/wsbridge/process"
)

// A group whose program is slow to start (here: its Start waits until the
// test lets it go) holds up only its own clients: a client of another group
// is served meanwhile, and a second client of the slow group joins it once
// it has started, without a second program.
func TestSlowStartBlocksOnlyItsGroup(t *testing.T) {
	t.Parallel()
	hub := broadcast.NewHub(broadcast.Options{})
	release := make(chan struct{})
	var starts, slowStarts atomic.Int32
	var ids atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ReserveClient()
		hc := &capture{ResponseWriter: w}
		conn, err := websocket.Accept(hc, r, nil)
		if err != nil {
			hub.ReleaseClient()
			return
		}
		c := broadcast.NewClient(conn, hc.out, envelope.ClientInfo{ID: fmt.Sprint("c", ids.Add(1)), Path: r.URL.Path})
		slow := r.URL.Path == "/slow"
		prog := broadcast.Program{
			Start: func([]string) (*process.Process, error) {
				starts.Add(1)
				if slow {
					slowStarts.Add(1)
					<-release
				}
				return process.Start(process.Config{Path: "/bin/sh", Args: []string{"sh", "-c", "exec cat"}, Env: []string{"PATH=" + os.Getenv("PATH")}})
			},
			Claim: func() bool { return true },
			Log:   slog.New(slog.DiscardHandler),
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
	// On failure the slow start is let go before the hub shuts down.
	letGo := sync.OnceFunc(func() { close(release) })
	t.Cleanup(letGo)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	first := dial(t, url+"/slow", 0) // the upgrade answers; Join then waits in Start
	deadline := time.Now().Add(10 * time.Second)
	for slowStarts.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow group's program never began to start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	second := dial(t, url+"/slow", 0)

	other := dial(t, url+"/other", 0)
	write(t, other, "not held up")
	if got := read(t, other); got != "not held up" {
		t.Fatalf("other group got %q", got)
	}

	letGo()
	write(t, second, "both")
	for i, c := range []*websocket.Conn{first, second} {
		if got := read(t, c); got != "both" {
			t.Fatalf("client %d of the slow group got %q", i, got)
		}
	}
	if n := slowStarts.Load(); n != 1 {
		t.Fatalf("the slow group started %d programs, want 1", n)
	}
	if n := starts.Load(); n != 2 {
		t.Fatalf("%d programs started, want 2", n)
	}
}
