package bridge

import (
	"net/http"
	"time"

	"github.com/wsbridge/wsbridge/bridge/internal/fdbudget"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// At the file-descriptor limit a spawn fails with EMFILE, and since the
// kinds start their program after the upgrade, the client would be upgraded
// and then closed with 1011. So every process takes room in a budget of
// file descriptors (package fdbudget) with its --maxforks slot: when starting
// it would eat into the reserve kept free, the request gets 503 with
// Retry-After before the upgrade.

// FDStatus counts the open file descriptors now, and returns them with the
// soft RLIMIT_NOFILE and the reserve the gate keeps under it.
func FDStatus() (open, limit, reserve int, err error) {
	open, limit, err = fdbudget.Count(make([]byte, 32<<10))
	return open, limit, fdbudget.Reserve(limit), err
}

// admitFDs takes room for a process in the file-descriptor budget, or
// returns the refusal (503).
func (h *Handler) admitFDs() *session.Refusal {
	c := h.fds.Admit(time.Now())
	if c.Err != nil {
		h.log.Info("cannot count open files: new sessions are not refused when descriptors run short", "err", c.Err)
	}
	attrs := []any{"in_use", c.InUse, "limit", c.Limit, "reserve", c.Reserve}
	if c.Changed {
		if c.OK {
			h.log.Info("file descriptors available again: new sessions are admitted", attrs...)
		} else {
			h.log.Warn("file descriptors short: new sessions get 503 until some end", attrs...)
		}
	}
	if c.OK {
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

// FDShort reports whether a process about to start was refused for want of
// file descriptors, and one would still be (for /readyz).
func (h *Handler) FDShort() bool { return h.fds.Short(time.Now()) }
