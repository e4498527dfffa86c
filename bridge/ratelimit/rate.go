// Package ratelimit holds token buckets: one per session for --msg-rate,
// and a bounded table of them by client address for --conn-rate.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is N events per Per, as a token bucket: a burst of N at once, then
// one every Per/N. The zero Rate allows everything.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate reads "N/DURATION" (20/1m, 5/1s); "0" or "" is no limit. A
// bare unit is read as one of it: 10/s, 100/m, 1000/h.
func ParseRate(s string) (Rate, error) {
	if s == "" || s == "0" {
		return Rate{}, nil
	}
	ns, ds, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q: want N/DURATION, such as 20/1m", s)
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n <= 0 {
		return Rate{}, fmt.Errorf("%q: N must be a whole number above 0", s)
	}
	switch ds {
	case "s", "m", "h":
		ds = "1" + ds
	}
	d, err := time.ParseDuration(ds)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("%q: the duration must be positive, such as 1s or 1m", s)
	}
	return Rate{N: n, Per: d}, nil
}

// Limited reports whether r limits anything.
func (r Rate) Limited() bool { return r.N > 0 && r.Per > 0 }

func (r Rate) String() string {
	if !r.Limited() {
		return "0"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// every is the time one token takes to come back.
func (r Rate) every() time.Duration { return r.Per / time.Duration(r.N) }

// Bucket is one token bucket of a Rate, for one session: not safe for
// concurrent use (a session's read loop owns it). Its zero value with a
// Rate set starts full.
type Bucket struct {
	rate Rate
	// full is when the bucket is (or was) full again: tokens are
	// (now - (full - Per)) / every, capped at N. A single time instead of
	// a count and a time keeps it to one field to update.
	full time.Time
}

// NewBucket is a full bucket of r.
func NewBucket(r Rate) Bucket { return Bucket{rate: r} }

// Take takes one token at now; false when there is none, with how long
// until there is one.
func (b *Bucket) Take(now time.Time) (ok bool, wait time.Duration) {
	if !b.rate.Limited() {
		return true, 0
	}
	empty := b.full.Add(-b.rate.Per) // when the bucket held no token
	if empty.Before(now.Add(-b.rate.Per)) {
		empty = now.Add(-b.rate.Per) // full: the burst is capped at N
	}
	next := empty.Add(b.rate.every())
	if next.After(now) {
		return false, next.Sub(now)
	}
	b.full = next.Add(b.rate.Per)
	return true, 0
}

// ErrTableFull is never returned to a client: Buckets lets a client through
// untracked when it cannot hold one more, and says so to its caller.
var ErrTableFull = errors.New("rate table full")

// Buckets are token buckets by client, for a rate per address. An entry is
// needed only while its bucket is not full again, at most Per after its
// last event, so the table holds the clients of the last Per and no more
// than max of them: a flood of distinct addresses cannot grow it past max.
// Past it a new client goes through unlimited (and the caller is told),
// which a flood of that many addresses could do anyway.
type Buckets struct {
	rate  Rate
	max   int
	mu    sync.Mutex
	m     map[netip.Addr]*Bucket
	swept time.Time
}

// DefaultMaxClients bounds a Buckets table: 65,536 entries of about 100
// bytes, some 6 MiB at most.
const DefaultMaxClients = 1 << 16

// NewBuckets limits each client to r, tracking max clients at most (0:
// DefaultMaxClients).
func NewBuckets(r Rate, max int) *Buckets {
	if max <= 0 {
		max = DefaultMaxClients
	}
	return &Buckets{rate: r, max: max, m: map[netip.Addr]*Bucket{}}
}

// Take takes one of key's tokens at now. ok false: over the rate, retry in
// wait. err is ErrTableFull when key went through untracked.
func (bs *Buckets) Take(key netip.Addr, now time.Time) (ok bool, wait time.Duration, err error) {
	if bs == nil || !bs.rate.Limited() {
		return true, 0, nil
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[key]
	if b == nil {
		if len(bs.m) >= bs.max {
			bs.sweep(now)
		}
		if len(bs.m) >= bs.max {
			return true, 0, ErrTableFull
		}
		nb := NewBucket(bs.rate)
		b = &nb
		bs.m[key] = b
	} else if now.Sub(bs.swept) > bs.rate.Per {
		bs.sweep(now)
	}
	ok, wait = b.Take(now)
	return ok, wait, nil
}

// sweep drops the entries whose bucket is full again: they carry nothing a
// new entry would not.
func (bs *Buckets) sweep(now time.Time) {
	bs.swept = now
	for k, b := range bs.m {
		if !b.full.After(now) {
			delete(bs.m, k)
		}
	}
}

// Len is how many clients are tracked (tests).
func (bs *Buckets) Len() int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return len(bs.m)
}

// RetryAfter is a Retry-After value for wait: whole seconds, at least 1.
func RetryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}
