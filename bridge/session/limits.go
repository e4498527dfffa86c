package session

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/ratelimit"
)

// Close codes of the per-session limits.
const (
	// StatusIdle closes a session with no input and no output for
	// --idle-timeout, as HTTP's 408 Request Timeout.
	StatusIdle websocket.StatusCode = 4408
	// StatusRateLimited closes a client over --msg-rate (a policy
	// violation).
	StatusRateLimited = websocket.StatusPolicyViolation
)

// Reasons passed to Observer.MessageDropped.
const (
	DroppedMsgRate  = "msg_rate"  // over --msg-rate with --msg-rate-mode=drop
	DroppedReadOnly = "read_only" // a watcher's input to a terminal
)

// DropReasons lists every reason Observer.MessageDropped is given.
var DropReasons = []string{DroppedMsgRate, DroppedReadOnly}

// Limits are what an endpoint allows one session, or one client of a
// shared program.
type Limits struct {
	// MsgRate bounds a client's messages (--msg-rate); the zero Rate:
	// unlimited. Keystrokes of a terminal are not counted.
	MsgRate ratelimit.Rate
	// MsgRateDrop drops the messages over MsgRate instead of closing the
	// client (--msg-rate-mode=drop).
	MsgRateDrop bool
	// IdleTimeout ends a session with no input and no output for this long
	// (--idle-timeout); 0: never.
	IdleTimeout time.Duration
}

// Verdict is what MsgLimiter says of one client message.
type Verdict int

const (
	Pass  Verdict = iota // within the rate
	Drop                 // over it: read and throw it away
	Close                // over it: close the client with StatusRateLimited
)

// MsgLimiter applies --msg-rate to one client's messages. It is owned by
// the client's read loop: not safe for concurrent use.
type MsgLimiter struct {
	bucket ratelimit.Bucket
	on     bool
	drop   bool
}

// NewMsgLimiter is a limiter for one client of l.
func (l Limits) NewMsgLimiter() MsgLimiter {
	return MsgLimiter{bucket: ratelimit.NewBucket(l.MsgRate), on: l.MsgRate.Limited(), drop: l.MsgRateDrop}
}

// Check takes one message's token.
func (m *MsgLimiter) Check() Verdict {
	if !m.on {
		return Pass
	}
	if ok, _ := m.bucket.Take(time.Now()); ok {
		return Pass
	}
	if m.drop {
		return Drop
	}
	return Close
}

// RateLimitReason is the close reason of a client over --msg-rate.
func (l Limits) RateLimitReason() string {
	return CloseReason("rate limit: more than --msg-rate=%s messages", l.MsgRate)
}

// IdleTimer fires once a session has had no activity for its timeout. A
// session touches it on each message in or out; the timer itself is one
// runtime timer, re-armed when it finds activity since it was set, so an
// idle session holds no goroutine and a busy one pays an atomic store per
// burst. A nil *IdleTimer (no --idle-timeout) does nothing.
type IdleTimer struct {
	d    time.Duration
	base time.Time
	last atomic.Int64 // since base, of the last activity
	fire func()

	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

// NewIdleTimer calls fire, on a goroutine of its own, once d passes with no
// Touch; nil when d is 0. The owner calls Stop when the session ends, which
// waits for a fire in progress.
func NewIdleTimer(d time.Duration, fire func()) *IdleTimer {
	if d <= 0 {
		return nil
	}
	it := &IdleTimer{d: d, base: time.Now(), fire: fire}
	it.t = time.AfterFunc(d, it.check)
	return it
}

// Touch records activity now.
func (it *IdleTimer) Touch() {
	if it != nil {
		it.last.Store(int64(time.Since(it.base)))
	}
}

// check fires, or re-arms for the rest of the timeout after the last
// activity.
func (it *IdleTimer) check() {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.stopped {
		return
	}
	quiet := time.Since(it.base) - time.Duration(it.last.Load())
	if quiet < it.d {
		it.t.Reset(it.d - quiet)
		return
	}
	it.stopped = true
	it.fire()
}

// Stop ends the timer; once it returns, fire is not running and will not
// run.
func (it *IdleTimer) Stop() {
	if it == nil {
		return
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	it.stopped = true
	it.t.Stop()
}

type readOnlyKey struct{}

// WithReadOnly marks r's client as a watcher: authenticated, but not one of
// those who may type into a writable terminal (a read-only link,
// --writers, --writers-claim). Only the server's own middleware sets it, in
// the request's context: no header can.
func WithReadOnly(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), readOnlyKey{}, true))
}

// IsReadOnly reports whether r's client is a watcher (WithReadOnly).
func IsReadOnly(r *http.Request) bool {
	ro, _ := r.Context().Value(readOnlyKey{}).(bool)
	return ro
}
