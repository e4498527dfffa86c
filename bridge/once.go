package bridge

import (
	"sync"
	"sync/atomic"
)

// onceState is --once: the first upgrade that would start a process claims
// the one session; when that session's process has been reaped, done is
// closed and the daemon shuts down (it selects on OnceDone).
type onceState struct {
	on      bool
	claimed atomic.Bool
	done    chan struct{}
	end     sync.Once
}

func (o *onceState) init(on bool) {
	o.on = on
	if on {
		o.done = make(chan struct{})
	}
}

// claim reports whether a new process may start: always without --once,
// only the first time with it.
func (o *onceState) claim() bool {
	return !o.on || o.claimed.CompareAndSwap(false, true)
}

// unclaim gives the claim back when the upgrade failed before a session
// began, so the next client gets the one session.
func (o *onceState) unclaim() {
	if o.on {
		o.claimed.Store(false)
	}
}

// ended records that the one session is over.
func (o *onceState) ended() {
	if o.on {
		o.end.Do(func() { close(o.done) })
	}
}

// OnceDone is closed when the single session of Options.Once has ended (its
// process reaped). Without Once it is nil, so a select on it never fires.
func (h *Handler) OnceDone() <-chan struct{} { return h.once.done }
