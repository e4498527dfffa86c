package bridge

// Exports of internals for the external tests (package bridge_test).

// Scrollback is the replay ring of terminal sessions.
type Scrollback = scrollback

func NewScrollback(size int) *Scrollback { return newScrollback(size) }
