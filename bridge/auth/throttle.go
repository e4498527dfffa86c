package auth

import (
	"net/netip"
	"sync"
	"time"
)

// Failed logins are throttled per client address (the --trusted-proxy
// resolved one, IPv6 by /64): past failureLimit failures within
// failureWindow, the address gets 429 without any credential check until
// the window ends. A bcrypt check costs tens of milliseconds of CPU on
// purpose, so without this a few clients guessing passwords take every
// core; and it bounds guessing itself.
const (
	failureLimit  = 10
	failureWindow = time.Minute
	// failureTableSize bounds the table: beyond it, windows that have ended
	// are dropped, then (a flood from very many addresses) an arbitrary
	// entry.
	failureTableSize = 16384
)

type failureThrottle struct {
	limit  int
	window time.Duration
	size   int
	mu     sync.Mutex
	seen   map[netip.Addr]failures
}

// failures are an address's failed logins in the window that began with
// the first of them.
type failures struct {
	since time.Time
	n     int
}

func newFailureThrottle() *failureThrottle {
	return &failureThrottle{limit: failureLimit, window: failureWindow, size: failureTableSize, seen: map[netip.Addr]failures{}}
}

// blocked reports whether key has used up its failures at now, and when it
// may try again.
func (f *failureThrottle) blocked(key netip.Addr, now time.Time) (retryAfter time.Duration, blocked bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.seen[key]
	if !ok {
		return 0, false
	}
	end := e.since.Add(f.window)
	if !now.Before(end) {
		delete(f.seen, key)
		return 0, false
	}
	return end.Sub(now), e.n >= f.limit
}

// fail records a failed login of key at now.
func (f *failureThrottle) fail(key netip.Addr, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.seen[key]
	if !ok || !now.Before(e.since.Add(f.window)) {
		if !ok && len(f.seen) >= f.size {
			f.makeRoom(now)
		}
		e = failures{since: now}
	}
	e.n++
	f.seen[key] = e
}

// makeRoom drops the windows that have ended, or if none has, one entry.
func (f *failureThrottle) makeRoom(now time.Time) {
	for k, e := range f.seen {
		if !now.Before(e.since.Add(f.window)) {
			delete(f.seen, k)
		}
	}
	if len(f.seen) < f.size {
		return
	}
	for k := range f.seen {
		delete(f.seen, k)
		return
	}
}

func (f *failureThrottle) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}
