package bridge

import "time"

// Tunables are the settings that may change while sessions run (wsbridge
// reloads them on SIGHUP). A change applies to what starts afterwards: the
// --maxforks limit to the next upgrade, CloseGrace and PingInterval to
// sessions that start later; running sessions keep what they started with.
type Tunables struct {
	MaxForks     int
	CloseGrace   time.Duration
	PingInterval time.Duration
}

// Tune replaces the tunable settings given in Options.
func (h *Handler) Tune(t Tunables) { h.live.Store(&t) }

// Tunables returns the settings in force.
func (h *Handler) Tunables() Tunables { return *h.live.Load() }

func (h *Handler) maxForks() int               { return h.Tunables().MaxForks }
func (h *Handler) closeGrace() time.Duration   { return h.Tunables().CloseGrace }
func (h *Handler) pingInterval() time.Duration { return h.Tunables().PingInterval }
