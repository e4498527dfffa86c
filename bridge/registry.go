package bridge

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// registry tracks live sessions. http.Server.Shutdown cannot see hijacked
// connections, so the handler ends its sessions itself.
type registry struct {
	mu       sync.Mutex
	sessions map[session.Member]struct{}
	closing  bool
	wg       sync.WaitGroup
}

// add registers s; it reports false when shutdown has begun. Either way the
// caller runs s and calls remove when it ends.
func (g *registry) add(s session.Member) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wg.Add(1)
	if g.sessions == nil {
		g.sessions = make(map[session.Member]struct{})
	}
	g.sessions[s] = struct{}{}
	return !g.closing
}

func (g *registry) remove(s session.Member) {
	g.mu.Lock()
	delete(g.sessions, s)
	g.mu.Unlock()
	g.wg.Done()
}

func (g *registry) isClosing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing
}

// Shutdown ends every session as a server going away: each child gets the
// kill sequence, what it writes meanwhile still reaches its client, and the
// client then gets close code 1001. New upgrades are refused with 503. If ctx
// ends first, the remaining connections are dropped and the children killed.
func (h *Handler) Shutdown(ctx context.Context) error {
	g := &h.sessions
	g.mu.Lock()
	g.closing = true
	members := g.snapshotLocked()
	g.mu.Unlock()
	// Members are told outside the lock: a member's GoAway may take locks
	// of its own kind that are held while it registers (broadcast's hub).
	for _, s := range members {
		s.GoAway()
	}

	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	members = g.snapshotLocked()
	g.mu.Unlock()
	for _, s := range members {
		s.ForceClose()
	}
	// Killed children are reaped and dropped connections end their
	// sessions within moments; a member that still does not leave must not
	// hold the daemon past its deadline for ever.
	select {
	case <-done:
	case <-time.After(forceCloseWait):
	}
	return ctx.Err()
}

// forceCloseWait bounds the wait for sessions after ForceClose.
const forceCloseWait = 5 * time.Second

// snapshotLocked lists the members, with g.mu held.
func (g *registry) snapshotLocked() []session.Member {
	members := make([]session.Member, 0, len(g.sessions))
	for s := range g.sessions {
		members = append(members, s)
	}
	return members
}

// checkOpen returns a refusal (503) once shutdown has begun.
func (h *Handler) checkOpen() error {
	if !h.sessions.isClosing() {
		return nil
	}
	return shuttingDown
}

// shuttingDown answers a request that comes during shutdown.
var shuttingDown = &session.Refusal{
	Status:     http.StatusServiceUnavailable,
	Message:    "503 Service Unavailable: the server is shutting down",
	Reason:     "shutting down",
	Counted:    session.RefusedShuttingDown,
	RetryAfter: "1",
}
