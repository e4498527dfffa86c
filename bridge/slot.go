package bridge

import (
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// Every process wsbridge starts (a session's, a terminal's, a CGI script's)
// holds a --maxforks slot from before it starts until it is reaped; a
// session's also holds the --once claim.

// tryFork counts one more process against --maxforks, or nothing and false
// at the limit.
func (h *Handler) tryFork() bool {
	n, limit := h.forks.Add(1), h.maxForks()
	if limit > 0 && n > int64(limit) {
		h.forks.Add(-1)
		return false
	}
	return true
}

// maxForksRefusal answers a request that found --maxforks reached (429).
func (h *Handler) maxForksRefusal() *session.Refusal {
	return &session.Refusal{
		Status:  http.StatusTooManyRequests,
		Message: "429 Too Many Requests: the server is running its maximum number of processes (--maxforks=" + strconv.Itoa(h.maxForks()) + ")",
		Reason:  "maxforks",
		Counted: session.RefusedMaxForks,
	}
}

// onceRefusal answers an upgrade that would start a second session (503).
var onceRefusal = &session.Refusal{
	Status:  http.StatusServiceUnavailable,
	Message: "503 Service Unavailable: this server serves a single session (--once), and it has begun",
	Reason:  "once",
	Counted: session.RefusedShuttingDown,
}

// forkSlot is a --once claim and a --maxforks slot taken for a process
// about to start (session.Slot).
type forkSlot struct {
	h    *Handler
	held bool
	// pending: admitted in the file-descriptor budget, its process not
	// known to have started.
	pending atomic.Bool
}

// takeForkSlot claims both and room in the file-descriptor budget, or
// nothing and returns the refusal: 503 for --once, 429 for --maxforks, 503
// with Retry-After when descriptors are short (fds.go).
func (h *Handler) takeForkSlot() (session.Slot, error) {
	if !h.once.claim() {
		return nil, onceRefusal
	}
	if !h.tryFork() {
		h.once.unclaim()
		return nil, h.maxForksRefusal()
	}
	if ref := h.admitFDs(); ref != nil {
		h.forks.Add(-1)
		h.once.unclaim()
		return nil, ref
	}
	s := &forkSlot{h: h, held: true}
	s.pending.Store(true)
	return s, nil
}

func (s *forkSlot) Release() {
	if s.held {
		s.h.forks.Add(-1)
		s.h.once.unclaim()
		s.held = false
		s.h.fds.Undo()
		s.settle()
	}
}

func (s *forkSlot) Free() {
	if s.held {
		s.h.forks.Add(-1)
		s.held = false
		s.h.fds.Ended()
		s.settle()
	}
}

// settle says the slot's process has started (or never will), once: the
// gate calls it when the kind's Serve returns, Release and Free in any case.
func (s *forkSlot) settle() {
	if s.pending.CompareAndSwap(true, false) {
		s.h.fds.Started()
	}
}

func (s *forkSlot) Ended() { s.h.once.ended() }
