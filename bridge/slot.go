package bridge

import (
	"log/slog"
	"net/http"
	"strconv"
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

// refuseMaxForks answers 429 for a request that found --maxforks reached.
func (h *Handler) refuseMaxForks(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	h.observer().Refused(RefusedMaxForks)
	log.Log(r.Context(), LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "maxforks")
	http.Error(w, "429 Too Many Requests: the server is running its maximum number of processes (--maxforks="+strconv.Itoa(h.maxForks())+")", http.StatusTooManyRequests)
}

// takeSlot takes a --maxforks slot, or answers 429.
func (h *Handler) takeSlot(w http.ResponseWriter, r *http.Request, log *slog.Logger) bool {
	if h.tryFork() {
		return true
	}
	h.refuseMaxForks(w, r, log)
	return false
}

// forkSlot is a --once claim and a --maxforks slot taken for a process
// about to start.
type forkSlot struct{ held bool }

// take claims both, or neither.
func (s *forkSlot) take(h *Handler) bool { return s.claim(h) == "" }

// claim takes both, or neither and says which was refused: "once" or
// "maxforks".
func (s *forkSlot) claim(h *Handler) string {
	if !h.once.claim() {
		return "once"
	}
	if !h.tryFork() {
		h.once.unclaim()
		return "maxforks"
	}
	s.held = true
	return ""
}

// release gives back a claim and slot that no process took over.
func (s *forkSlot) release(h *Handler) {
	if s.held {
		h.forks.Add(-1)
		h.once.unclaim()
		s.held = false
	}
}

// takeForkSlot takes a slot, or answers the request with the reason there
// is none (503 for --once, 429 for --maxforks).
func (h *Handler) takeForkSlot(w http.ResponseWriter, r *http.Request, s *forkSlot) bool {
	switch s.claim(h) {
	case "":
		return true
	case "once":
		h.refuseOnce(w, r)
	default:
		h.refuseMaxForks(w, r, h.log)
	}
	return false
}
