package bridge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/pipe"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// recorder is an Observer that remembers every call.
type recorder struct {
	mu     sync.Mutex
	events []string
	ended  []endEvent
}

type endEvent struct {
	code                               websocket.StatusCode
	bytesIn, bytesOut, msgsIn, msgsOut int64
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) SessionStarted() { r.add("started") }
func (r *recorder) SessionEnded(code websocket.StatusCode, d time.Duration, bi, bo, mi, mo int64) {
	r.mu.Lock()
	r.ended = append(r.ended, endEvent{code, bi, bo, mi, mo})
	r.mu.Unlock()
	r.add("ended")
}
func (r *recorder) Refused(reason string)     { r.add("refused " + reason) }
func (r *recorder) SpawnFailed()              { r.add("spawn failed") }
func (r *recorder) MessageDropped(why string) { r.add("dropped " + why) }

func (r *recorder) snapshot() ([]string, []endEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), append([]endEvent(nil), r.ended...)
}

func command(t *testing.T, name string, args ...string) session.Command {
	t.Helper()
	path, err := process.Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	return session.Command{Path: path, Args: append([]string{name}, args...)}
}

func TestObserverSeesSessionsAndRefusals(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := new(recorder)
	h := bridge.New(bridge.Options{Kind: pipe.New(pipe.Options{}), Command: command(t, "cat"), Observer: rec, MaxForks: 1})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Not an upgrade.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second session is over --maxforks=1.
	if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second dial: %v, want 429", err)
	}
	// Raising the limit at run time lets it in.
	h.Tune(session.Tunables{MaxForks: 2})
	c2, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial after Tune: %v", err)
	}
	c2.Close(websocket.StatusNormalClosure, "")

	for _, msg := range []string{"hello", "world!"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")

	deadline := time.Now().Add(5 * time.Second)
	for {
		events, ended := rec.snapshot()
		if len(ended) == 2 {
			// Order between sessions is not fixed: a session is started
			// once its child runs, after the client's handshake is done.
			slices.Sort(events)
			want := "ended,ended,refused bad_request,refused maxforks,started,started"
			if got := strings.Join(events, ","); got != want {
				t.Errorf("events %s, want %s", got, want)
			}
			// The client left first: the kill sequence ends cat at closing
			// its stdin, exit status 0.
			var echo endEvent
			for _, e := range ended {
				if e.msgsIn == 2 {
					echo = e
				}
			}
			want2 := endEvent{code: websocket.StatusNormalClosure, bytesIn: 11, bytesOut: 11, msgsIn: 2, msgsOut: 2}
			if echo != want2 {
				t.Errorf("ended %+v, want %+v", echo, want2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions did not end: %v", events)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestObserverNotFound(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := new(recorder)
	h := bridge.New(bridge.Options{
		Kind:     pipe.New(pipe.Options{}),
		Observer: rec,
		Resolve: func(r *http.Request) (session.Endpoint, error) {
			return session.Endpoint{}, session.ErrNoEndpoint
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	if _, resp, err := websocket.Dial(ctx, url+"/nope", nil); err == nil || resp.StatusCode != 404 {
		t.Errorf("dial: %v, want 404", err)
	}
	events, _ := rec.snapshot()
	if got := strings.Join(events, ","); got != "refused not_found" {
		t.Errorf("events %s", got)
	}
}

func TestObserverShuttingDown(t *testing.T) {
	defer goleak.VerifyNone(t)
	rec := new(recorder)
	h := bridge.New(bridge.Options{Kind: pipe.New(pipe.Options{}), Command: command(t, "cat"), Observer: rec})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil); err == nil || resp.StatusCode != 503 {
		t.Errorf("dial: %v, want 503", err)
	}
	events, _ := rec.snapshot()
	if got := strings.Join(events, ","); got != "refused shutting_down" {
		t.Errorf("events %s", got)
	}
}

func TestTunablesDefaultToOptions(t *testing.T) {
	t.Parallel()
	h := bridge.New(bridge.Options{MaxForks: 3, CloseGrace: time.Second, PingInterval: 2 * time.Second})
	if got, want := h.Tunables(), (session.Tunables{MaxForks: 3, CloseGrace: time.Second, PingInterval: 2 * time.Second}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	h.Tune(session.Tunables{MaxForks: 5})
	if got := h.Tunables(); got.MaxForks != 5 || got.PingInterval != 0 {
		t.Errorf("after Tune: %+v", got)
	}
}
