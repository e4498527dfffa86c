package bridge

import (
	"context"
	"net/http"
	"sync"
)

// registry tracks live sessions. http.Server.Shutdown cannot see hijacked
// connections, so the handler ends its sessions itself.
type registry struct {
	mu       sync.Mutex
	sessions map[tracked]struct{}
	closing  bool
	wg       sync.WaitGroup
}

// tracked is what the registry can end: a pipe session (session.go) or a
// terminal process with its clients (ttyproc.go).
type tracked interface {
	// goAway starts the kill sequence; the clients are closed with 1001 once
	// the output is delivered.
	goAway()
	// forceClose kills at once and drops the connections.
	forceClose()
}

func (s *session) goAway() {
	s.goingAway.Store(true)
	s.proc.Stop()
}

func (s *session) forceClose() {
	s.proc.Kill()
	s.conn.CloseNow()
}

// add registers s; it reports false when shutdown has begun. Either way the
// caller runs s and calls remove when it ends.
func (g *registry) add(s tracked) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wg.Add(1)
	if g.sessions == nil {
		g.sessions = make(map[tracked]struct{})
	}
	g.sessions[s] = struct{}{}
	return !g.closing
}

func (g *registry) remove(s tracked) {
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
	for s := range g.sessions {
		s.goAway()
	}
	g.mu.Unlock()

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
	for s := range g.sessions {
		s.forceClose()
	}
	g.mu.Unlock()
	<-done
	return ctx.Err()
}

// refuseIfClosing answers 503 once shutdown has begun, and says whether it
// did.
func (h *Handler) refuseIfClosing(w http.ResponseWriter) bool {
	if !h.sessions.isClosing() {
		return false
	}
	h.observer().Refused(RefusedShuttingDown)
	refuseShuttingDown(w)
	return true
}

func refuseShuttingDown(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "503 Service Unavailable: the server is shutting down", http.StatusServiceUnavailable)
}
