package metrics

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/session"
)

func TestCloseClass(t *testing.T) {
	t.Parallel()
	for code, want := range map[websocket.StatusCode]string{
		websocket.StatusNormalClosure:   "1000",
		websocket.StatusGoingAway:       "1001",
		websocket.StatusInternalError:   "1011",
		4000:                            "4xxx",
		4001:                            "4xxx",
		4255:                            "4xxx",
		websocket.StatusUnsupportedData: "1003",
	} {
		if got := closeClass(code); got != want {
			t.Errorf("closeClass(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestHistogramText(t *testing.T) {
	t.Parallel()
	h := newHistogram("x_seconds", []float64{0.5, 1, 10})
	var wg sync.WaitGroup
	// Exact in binary, so the sum does not depend on the order of addition.
	for _, v := range []float64{0.25, 0.5, 0.75, 3, 60} {
		wg.Go(func() { h.observe(v) })
	}
	wg.Wait()
	var b strings.Builder
	h.write(&b)
	want := `# HELP x_seconds
# TYPE x_seconds histogram
x_seconds_bucket{le="0.5"} 2
x_seconds_bucket{le="1"} 3
x_seconds_bucket{le="10"} 4
x_seconds_bucket{le="+Inf"} 5
x_seconds_sum 64.5
x_seconds_count 5
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestMetricsObserver(t *testing.T) {
	t.Parallel()
	m := New("test")
	m.SessionStarted()
	m.SessionStarted()
	m.SessionEnded(websocket.StatusNormalClosure, 2*time.Second, 10, 20, 1, 2)
	m.SessionEnded(4003, 50*time.Millisecond, 1, 2, 3, 4)
	m.Refused(session.RefusedMaxForks)
	m.SpawnFailed()
	var b strings.Builder
	m.Write(&b)
	for _, line := range []string{
		"wsbridge_sessions_active 0",
		"wsbridge_sessions_total 2",
		`wsbridge_bytes_total{direction="in"} 11`,
		`wsbridge_bytes_total{direction="out"} 22`,
		`wsbridge_messages_total{direction="in"} 4`,
		`wsbridge_messages_total{direction="out"} 6`,
		`wsbridge_child_exits_total{close_code="1000"} 1`,
		`wsbridge_child_exits_total{close_code="4xxx"} 1`,
		`wsbridge_child_exits_total{close_code="1001"} 0`,
		`wsbridge_handshakes_refused_total{reason="maxforks"} 1`,
		`wsbridge_handshakes_refused_total{reason="origin"} 0`,
		"wsbridge_spawn_failures_total 1",
		`wsbridge_session_duration_seconds_bucket{le="0.1"} 1`,
		"wsbridge_session_duration_seconds_count 2",
		"# TYPE wsbridge_sessions_total counter",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("missing %q in\n%s", line, b.String())
		}
	}
}

// TestLeaseHeld: a group's lease series exists only while the lease is
// held (clients choose the paths), with its label escaped for Prometheus.
func TestLeaseHeld(t *testing.T) {
	t.Parallel()
	m := New("test")
	text := func() string {
		var b strings.Builder
		m.Write(&b)
		return b.String()
	}
	m.Redis.LeaseHeld("/room/\"a\"\\b", true)
	want := `wsbridge_redis_lease_held{group="/room/\"a\"\\b"} 1`
	if !strings.Contains(text(), want) {
		t.Fatalf("no %s in:\n%s", want, text())
	}
	m.Redis.LeaseHeld("/room/\"a\"\\b", false)
	if strings.Contains(text(), "wsbridge_redis_lease_held") {
		t.Fatalf("the series outlived the lease:\n%s", text())
	}
}
