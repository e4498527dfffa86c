// Package peerlimit holds what the per-client limits share: which
// addresses count as one client, how many requests or connections each has
// open, and a log line that a flood cannot turn into a flood of lines.
package peerlimit

import (
	"net/netip"
	"sync"
	"time"
)

// Key is the client an address stands for: an IPv4 address itself, an
// IPv6 address its /64, since one host is commonly given a whole /64 and
// could otherwise count as 2^64 clients. ok is false for what is not an
// IP address (a unix socket peer).
func Key(hostport string) (key netip.Addr, ok bool) {
	a, err := netip.ParseAddr(hostport)
	if err != nil {
		ap, err := netip.ParseAddrPort(hostport)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return KeyOf(a), true
}

// KeyOf is Key for a parsed address.
func KeyOf(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Counter counts what each client holds open (connections, sessions)
// against a limit. An entry exists only while its count is above zero, so
// its memory is bounded by what is open.
type Counter struct {
	limit int // 0: unlimited, nothing counted
	mu    sync.Mutex
	n     map[netip.Addr]int
}

// NewCounter allows each client limit at once; 0 means no limit.
func NewCounter(limit int) *Counter {
	return &Counter{limit: limit, n: map[netip.Addr]int{}}
}

// Acquire takes one for key; false when key holds the limit already.
// Every true must be matched by one Release.
func (c *Counter) Acquire(key netip.Addr) bool {
	if c == nil || c.limit <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.limit {
		return false
	}
	c.n[key]++
	return true
}

// Release gives back one Acquire of key.
func (c *Counter) Release(key netip.Addr) {
	if c == nil || c.limit <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] <= 1 {
		delete(c.n, key)
		return
	}
	c.n[key]--
}

// Len is how many clients hold something (for tests and metrics).
func (c *Counter) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.n)
}

// Sampler lets through one event per interval and counts the rest, for a
// refusal's log line: every refusal is logged, but a burst of them as one
// line saying how many were left out.
type Sampler struct {
	Every time.Duration
	mu    sync.Mutex
	last  time.Time
	quiet int
}

// Allow reports whether this event is to be logged at now, and how many
// were not since the last that was.
func (s *Sampler) Allow(now time.Time) (ok bool, suppressed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) < s.Every {
		s.quiet++
		return false, 0
	}
	suppressed, s.quiet, s.last = s.quiet, 0, now
	return true, suppressed
}
