package bridge

import (
	"time"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// Tune replaces the settings that may change while sessions run (see
// session.Tunables); it starts as given in Options. MaxForks is
// server-wide: it applies to every endpoint sharing h's slots.
func (h *Handler) Tune(t session.Tunables) {
	h.shared.maxForks.Store(int64(t.MaxForks))
	h.live.Store(&t)
}

// Tunables returns the settings in force.
func (h *Handler) Tunables() session.Tunables {
	t := *h.live.Load()
	t.MaxForks = h.maxForks()
	return t
}

func (h *Handler) maxForks() int             { return int(h.shared.maxForks.Load()) }
func (h *Handler) closeGrace() time.Duration { return h.Tunables().CloseGrace }
