package broadcast

// This file runs a group's program again as --restart says, with backoff.

import (
	"time"

	"github.com/wsbridge/wsbridge/process"
)

// serveRestarting serves proc and the programs that replace it as
// --restart says, with the backoff starting over after restartReset of
// uptime, until one ends for good or stopped says so; it returns how the
// last one ended.
func (g *group) serveRestarting(proc *process.Process, stopped func() bool) process.Status {
	backoff := restartMin
	for {
		st := g.serve(proc)
		if stopped() || !g.restarts(st) {
			return st
		}
		if time.Since(proc.Started()) >= restartReset {
			backoff = restartMin
		}
		if proc = g.restart(&backoff); proc == nil {
			return st
		}
	}
}

// run serves the program, restarting it as --restart says, then closes
// every client with the close code of how it ended.
func (g *group) run(proc *process.Process) {
	defer g.h.wg.Done()
	pingDone := g.startKeepalive()
	g.end(g.serveRestarting(proc, func() bool { return false }))
	<-pingDone
}

// restarts reports whether a program that ended with st starts again.
func (g *group) restarts(st process.Status) bool {
	g.mu.Lock()
	stopping := g.stopping
	g.mu.Unlock()
	switch {
	case stopping:
		return false
	case g.h.opts.Restart == RestartAlways:
		return true
	case g.h.opts.Restart == RestartOnFailure:
		return st.Code != 0 || st.Signal != 0
	}
	return false
}

// restart waits out the backoff and starts the program again, trying until
// it starts or the group stops (nil).
func (g *group) restart(backoff *time.Duration) *process.Process {
	for {
		t := time.NewTimer(*backoff)
		g.mu.Lock()
		termStop := g.termStop // nil without --redis
		g.mu.Unlock()
		select {
		case <-g.stopCh:
			t.Stop()
			return nil
		case <-termStop:
			t.Stop()
			return nil
		case <-t.C:
		}
		*backoff = min(2**backoff, restartMax)
		program, epoch := newID(), g.epoch // constant without --redis
		if g.cg != nil {
			epoch = g.cg.OwnerEpoch()
		}
		proc, err := g.prog.Start(programEnv(program, epoch))
		if err != nil {
			g.log.Error("restart failed", "err", err)
			continue
		}
		g.mu.Lock()
		if g.stopping || g.termStopped {
			g.mu.Unlock()
			proc.Kill()
			<-proc.Done()
			proc.Release()
			return nil
		}
		g.proc = proc
		g.mu.Unlock()
		g.h.obs.Restarted()
		g.log.Info("group restart", "pid", proc.Pid)
		g.announce(program)
		g.rejoin(proc.Stdin)
		return proc
	}
}
