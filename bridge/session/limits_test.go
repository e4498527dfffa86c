package session_test

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/ratelimit"
	"github.com/wsbridge/wsbridge/bridge/session"
)

func TestIdleTimer(t *testing.T) {
	t.Parallel()
	if session.NewIdleTimer(0, func() { t.Error("fired without a timeout") }) != nil {
		t.Fatal("a zero timeout made a timer")
	}
	var nilTimer *session.IdleTimer
	nilTimer.Touch() // no timeout: touching and stopping do nothing
	nilTimer.Stop()

	var fired atomic.Int32
	start := time.Now()
	it := session.NewIdleTimer(200*time.Millisecond, func() { fired.Add(1) })
	// Activity every 50ms for 500ms keeps it from firing.
	for time.Since(start) < 500*time.Millisecond {
		it.Touch()
		time.Sleep(50 * time.Millisecond)
	}
	if fired.Load() != 0 {
		t.Fatal("fired while there was activity")
	}
	deadline := time.Now().Add(5 * time.Second)
	for fired.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if quiet := time.Since(start) - 500*time.Millisecond; fired.Load() != 1 || quiet < 150*time.Millisecond {
		t.Fatalf("fired %d times, %v after the last activity; want once, after about 200ms", fired.Load(), quiet)
	}
	it.Stop()
	time.Sleep(300 * time.Millisecond)
	if fired.Load() != 1 {
		t.Fatal("fired again")
	}

	// Stopped before it runs out: never fires.
	it = session.NewIdleTimer(50*time.Millisecond, func() { t.Error("fired after Stop") })
	it.Stop()
	time.Sleep(150 * time.Millisecond)
}

func TestMsgLimiter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limits session.Limits
		want   []session.Verdict
	}{
		{session.Limits{}, []session.Verdict{session.Pass, session.Pass, session.Pass}},
		{session.Limits{MsgRate: ratelimit.Rate{N: 2, Per: time.Hour}}, []session.Verdict{session.Pass, session.Pass, session.Close}},
		{session.Limits{MsgRate: ratelimit.Rate{N: 1, Per: time.Hour}, MsgRateDrop: true}, []session.Verdict{session.Pass, session.Drop, session.Drop}},
	} {
		m := tc.limits.NewMsgLimiter()
		for i, want := range tc.want {
			if got := m.Check(); got != want {
				t.Errorf("%+v: message %d: %v, want %v", tc.limits, i+1, got, want)
			}
		}
	}
}

func TestReadOnlyMark(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	if session.IsReadOnly(r) {
		t.Fatal("a fresh request is read-only")
	}
	r.Header.Set("X-Read-Only", "true") // no header can set it
	if ro := session.WithReadOnly(r); !session.IsReadOnly(ro) || session.IsReadOnly(r) {
		t.Fatal("WithReadOnly did not mark the copy, or marked the original")
	}
}
