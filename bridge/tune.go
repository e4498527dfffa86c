package bridge

import (
	"time"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// Tune replaces the settings that may change while sessions run (see
// session.Tunables); it starts as given in Options.
func (h *Handler) Tune(t session.Tunables) { h.live.Store(&t) }

// Tunables returns the settings in force.
func (h *Handler) Tunables() session.Tunables { return *h.live.Load() }

func (h *Handler) maxForks() int             { return h.Tunables().MaxForks }
func (h *Handler) closeGrace() time.Duration { return h.Tunables().CloseGrace }
