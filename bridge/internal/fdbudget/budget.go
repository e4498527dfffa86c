// Package fdbudget estimates the file descriptors the daemon has in use, so
// that the gate can keep a reserve free without counting them on every
// request.
package fdbudget

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// A process needs file descriptors to start (its pipes or terminal, the exec
// status pipe, a pidfd), and the daemon needs a few to go on accepting and
// serving at all. The gate lets a process start only while the descriptors
// left free would stay above a reserve.
//
// Counting the open descriptors means reading /proc/self/fd on Linux (and
// asking poll(2) about every descriptor under the limit elsewhere, see
// count_unix.go), which costs a couple of microseconds per descriptor (tens of milliseconds at 15,000):
// too slow for every upgrade at thousands of sessions. So the Budget
// estimates: the last count, plus PerStart for each process admitted since
// (an upper bound of what starting one takes), minus PerEnd for each one
// reaped since (a lower bound of what it frees). The estimate errs towards
// refusing and is put right by a fresh count before a refusal and now and
// then; the counts are spaced by what they cost. Nothing depends on how many
// descriptors a session of some kind really holds: a kind that holds fewer
// only makes the counts rarer.
const (
	// PerStart bounds the descriptors starting one process takes: three
	// pipes with both ends open until the child has them, the exec status
	// pipe, a pidfd.
	PerStart = 10
	// PerEnd is the least a reaped process frees: its connection and
	// stdout, or its terminal and pidfd.
	PerEnd = 2
	// MinReserve and MaxReserve bound the reserve, limit/64 between them.
	MinReserve = 16
	MaxReserve = 1024
	// Recount is the least time between counts while the estimate says
	// no; with many descriptors open, 20 times what a count costs, so that
	// counting takes at most a twentieth of a core however hard clients
	// knock at the limit.
	Recount = time.Millisecond
	// Refresh is the most time between counts otherwise, for what the
	// estimate does not see (terminal clients joining, files).
	Refresh = time.Second
)

// Reserve is how many file descriptors are kept free under limit, the soft
// RLIMIT_NOFILE.
func Reserve(limit int) int { return min(max(limit/64, MinReserve), MaxReserve) }

// Budget is the estimate. Its zero value counts on first use.
type Budget struct {
	mu       sync.Mutex
	open     int           // descriptors open at the last count
	limit    int           // the soft RLIMIT_NOFILE then
	drift    int           // estimated change since: + PerStart per start, - PerEnd per end
	pending  int           // processes admitted, not yet started
	at       time.Time     // of the last count; zero: never counted
	cost     time.Duration // what the last count took
	disabled bool          // cannot count (Windows): starts are never refused
	short    bool          // the last admission was refused
	buf      []byte

	// Count, if set, replaces Count (for tests).
	Count func(buf []byte) (open, limit int, err error)
}

// Check is the outcome of one admission, for the refusal and the log.
type Check struct {
	OK                    bool
	InUse, Limit, Reserve int   // InUse is estimated
	Changed               bool  // the budget went short, or back to enough
	Err                   error // the count failed: refusals are off from now on
}

// Admit takes room for one process to start, or says there is none.
func (b *Budget) Admit(now time.Time) Check {
	b.mu.Lock()
	defer b.mu.Unlock()
	var c Check
	if b.disabled {
		c.OK = true
		return c
	}
	age := now.Sub(b.at)
	if b.at.IsZero() || age >= max(Refresh, 200*b.cost) || (!b.fits() && age >= max(Recount, 20*b.cost)) {
		c.Err = b.recount(now)
		if b.disabled {
			c.OK = true
			return c
		}
	}
	c.OK = b.fits()
	c.InUse, c.Limit, c.Reserve = b.open+b.drift, b.limit, Reserve(b.limit)
	if c.OK {
		b.drift += PerStart
		b.pending++
	}
	c.Changed = b.short == c.OK
	b.short = !c.OK
	return c
}

// fits reports whether one more process may start.
func (b *Budget) fits() bool {
	return b.limit-(b.open+b.drift) >= Reserve(b.limit)+PerStart
}

// recount counts the open descriptors. Processes admitted but not started
// may be missing from the count, so they stay in the estimate.
func (b *Budget) recount(now time.Time) error {
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
	}
	count := b.Count
	if count == nil {
		count = Count
	}
	start := time.Now()
	open, limit, err := count(b.buf)
	b.cost = time.Since(start)
	b.at = now
	switch {
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
		// Not even one to read the folder with: as short as can be.
		b.open, b.limit, b.drift = limit, limit, 0
		return nil
	case err != nil:
		b.disabled = true
		return err
	}
	b.open, b.limit = open, limit
	b.drift = PerStart * b.pending
	return nil
}

// Started says an admitted process has started, or never will: a count
// sees it from now on.
func (b *Budget) Started() {
	b.mu.Lock()
	b.pending--
	b.mu.Unlock()
}

// Undo gives back an admission whose process never started.
func (b *Budget) Undo() {
	b.mu.Lock()
	b.drift -= PerStart
	b.mu.Unlock()
}

// Ended says an admitted process has been reaped.
func (b *Budget) Ended() {
	b.mu.Lock()
	b.drift -= PerEnd
	b.mu.Unlock()
}

// Short reports whether the last admission was refused and a process
// still would be, counting again if the last count is old enough: without
// new clients (a load balancer waiting for readiness sends none) it would
// otherwise stay short for good.
func (b *Budget) Short(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.short || b.disabled {
		return false
	}
	if !b.fits() && now.Sub(b.at) >= max(Recount, 20*b.cost) {
		b.recount(now)
	}
	return !b.disabled && !b.fits()
}
