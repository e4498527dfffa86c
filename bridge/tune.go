package bridge

import "time"

// Tune replaces the settings that may change while sessions run (see
// session.Tunables); it starts as given in Options.
func (h *Handler) Tune(t Tunables) { h.live.Store(&t) }

// Tunables returns the settings in force.
func (h *Handler) Tunables() Tunables { return *h.live.Load() }

func (h *Handler) maxForks() int             { return h.Tunables().MaxForks }
func (h *Handler) closeGrace() time.Duration { return h.Tunables().CloseGrace }
