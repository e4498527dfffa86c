package bridge

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// A process needs file descriptors to start (its pipes or terminal, the exec
// status pipe, a pidfd), and the daemon needs a few to go on accepting and
// serving at all. At the limit a spawn fails with EMFILE, and since the
// kinds start their program after the upgrade, the client would be upgraded
// and then closed with 1011. So the gate keeps a reserve: a process may
// start only while the descriptors left free would stay above it; otherwise
// the request gets 503 with Retry-After before the upgrade.
//
// Counting the open descriptors means reading /proc/self/fd, which costs a
// couple of microseconds per descriptor (tens of milliseconds at 15,000):
// too slow for every upgrade at thousands of sessions. So the budget
// estimates: the last count, plus fdsPerStart for each process admitted
// since (an upper bound of what starting one takes), minus fdsPerEnd for
// each one reaped since (a lower bound of what it frees). The estimate errs
// towards refusing and is put right by a fresh count before a refusal and
// now and then; the counts are spaced by what they cost. Nothing depends on
// how many descriptors a session of some kind really holds: a kind that
// holds fewer only makes the counts rarer.
const (
	// fdsPerStart bounds the descriptors starting one process takes: three
	// pipes with both ends open until the child has them, the exec status
	// pipe, a pidfd.
	fdsPerStart = 10
	// fdsPerEnd is the least a reaped process frees: its connection and
	// stdout, or its terminal and pidfd.
	fdsPerEnd = 2
	// minReserve and maxReserve bound the reserve, limit/64 between them.
	minReserve = 16
	maxReserve = 1024
	// fdRecount is the least time between counts while the estimate says
	// no; with many descriptors open, a multiple of what a count costs.
	fdRecount = 5 * time.Millisecond
	// fdRefresh is the most time between counts otherwise, for what the
	// estimate does not see (terminal clients joining, files, CGI).
	fdRefresh = time.Second
)

// FDReserve is how many file descriptors the gate keeps free under limit,
// the soft RLIMIT_NOFILE.
func FDReserve(limit int) int { return min(max(limit/64, minReserve), maxReserve) }

// fdBudget is the gate's estimate of the file descriptors in use. Its zero
// value counts on first use.
type fdBudget struct {
	mu       sync.Mutex
	open     int           // descriptors open at the last count
	limit    int           // the soft RLIMIT_NOFILE then
	drift    int           // estimated change since: + fdsPerStart per start, - fdsPerEnd per end
	pending  int           // processes admitted, not yet started
	at       time.Time     // of the last count; zero: never counted
	cost     time.Duration // what the last count took
	disabled bool          // no /proc: starts are never refused
	short    bool          // the last admission was refused
	buf      []byte
	count    func(buf []byte) (open, limit int, err error) // nil: countFDs
}

// fdCheck is the outcome of one admission, for the refusal and the log.
type fdCheck struct {
	ok                    bool
	inUse, limit, reserve int   // inUse: estimated
	changed               bool  // the budget went short, or back to enough
	err                   error // the count failed (logged once)
}

// admit reserves room for one process to start, or says there is none.
func (b *fdBudget) admit(now time.Time) fdCheck {
	b.mu.Lock()
	defer b.mu.Unlock()
	var c fdCheck
	if b.disabled {
		c.ok = true
		return c
	}
	age := now.Sub(b.at)
	if b.at.IsZero() || age >= max(fdRefresh, 200*b.cost) || (!b.fits() && age >= max(fdRecount, 20*b.cost)) {
		c.err = b.recount(now)
		if b.disabled {
			c.ok = true
			return c
		}
	}
	c.ok = b.fits()
	c.inUse, c.limit, c.reserve = b.open+b.drift, b.limit, FDReserve(b.limit)
	if c.ok {
		b.drift += fdsPerStart
		b.pending++
	}
	c.changed = b.short == c.ok
	b.short = !c.ok
	return c
}

// fits reports whether one more process may start.
func (b *fdBudget) fits() bool {
	return b.limit-(b.open+b.drift) >= FDReserve(b.limit)+fdsPerStart
}

// recount counts the open descriptors. Processes admitted but not started
// may be missing from the count, so they stay in the estimate.
func (b *fdBudget) recount(now time.Time) error {
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
	}
	count := b.count
	if count == nil {
		count = countFDs
	}
	start := time.Now()
	open, limit, err := count(b.buf)
	b.cost = time.Since(start)
	b.at = now
	switch {
	case errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE):
		// Not even one to read the folder with: as short as can be.
		b.open, b.limit, b.drift = limit, limit, 0
		return nil
	case err != nil:
		b.disabled = true
		return err
	}
	b.open, b.limit = open, limit
	b.drift = fdsPerStart * b.pending
	return nil
}

// started says an admitted process has started, or never will: the count
// sees it from now on.
func (b *fdBudget) started() {
	b.mu.Lock()
	b.pending--
	b.mu.Unlock()
}

// undo gives back an admission whose process never started.
func (b *fdBudget) undo() {
	b.mu.Lock()
	b.drift -= fdsPerStart
	b.mu.Unlock()
}

// ended says an admitted process has been reaped.
func (b *fdBudget) ended() {
	b.mu.Lock()
	b.drift -= fdsPerEnd
	b.mu.Unlock()
}

// isShort reports whether the last admission was refused.
func (b *fdBudget) isShort() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.short
}

// countFDs returns the number of open file descriptors, from
// /proc/self/fd, and the soft RLIMIT_NOFILE. buf holds directory entries.
func countFDs(buf []byte) (open, limit int, err error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("getrlimit: %w", err)
	}
	limit = math.MaxInt
	if rl.Cur < math.MaxInt {
		limit = int(rl.Cur)
	}
	fd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, limit, fmt.Errorf("count open files: %w", err)
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return 0, limit, fmt.Errorf("count open files: %w", err)
		}
		if n == 0 {
			break
		}
		// struct linux_dirent64: ino (8 bytes), off (8), reclen (2),
		// type (1), name. Every entry is a descriptor but "." and "..".
		for off := 0; off+19 < n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			if buf[off+19] != '.' {
				open++
			}
			off += reclen
		}
	}
	return open - 1, limit, nil // less the one reading the folder
}

// FDStatus counts the open file descriptors now, and returns them with the
// soft RLIMIT_NOFILE and the reserve the gate keeps under it.
func FDStatus() (open, limit, reserve int, err error) {
	open, limit, err = countFDs(make([]byte, 32<<10))
	return open, limit, FDReserve(limit), err
}

// admitFDs takes room for a process in the file-descriptor budget, or
// returns the refusal (503).
func (h *Handler) admitFDs() *session.Refusal {
	c := h.fds.admit(time.Now())
	if c.err != nil {
		h.log.Info("cannot count open files: new sessions are not refused when descriptors run short", "err", c.err)
	}
	attrs := []any{"in_use", c.inUse, "limit", c.limit, "reserve", c.reserve}
	if c.changed {
		if c.ok {
			h.log.Info("file descriptors available again: new sessions are admitted", attrs...)
		} else {
			h.log.Warn("file descriptors short: new sessions get 503 until some end", attrs...)
		}
	}
	if c.ok {
		return nil
	}
	return &session.Refusal{
		Status:     http.StatusServiceUnavailable,
		Message:    "503 Service Unavailable: the server is short of file descriptors; try again later",
		Reason:     "fds",
		Attrs:      attrs,
		Counted:    session.RefusedFDs,
		RetryAfter: "1",
	}
}

// FDShort reports whether the last process about to start was refused for
// want of file descriptors (for /readyz).
func (h *Handler) FDShort() bool { return h.fds.isShort() }
