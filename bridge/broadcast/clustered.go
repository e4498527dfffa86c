package broadcast

import (
	"time"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/broadcast/envelope"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// With --redis a group spans every daemon of the cluster: each has its own
// clients, one (the lease holder) runs the program. Output goes from the
// program to the group's stream and from there, on every daemon, to the
// local clients (Deliver); client messages go to the input stream and from
// there to the program (Input). This file is that glue; the local path of
// a group without --redis does not pass through it.

// openCluster opens this daemon's side of the cluster's group, in place
// of starting a program: the lease decides where that runs. The group
// keeps the first client's slot while it is open here.
func (g *group) openCluster() error {
	g.endCh = make(chan struct{})
	cg, err := g.h.engine.Open(g.key, clusterHandler{g})
	if err != nil {
		return err
	}
	g.cg = cg
	g.pingDone = g.startKeepalive()
	return nil
}

// clusterEnd waits until the group has no clients and no program here,
// then ends this daemon's side of it.
func (g *group) clusterEnd() {
	defer g.h.wg.Done()
	<-g.endCh
	g.cg.Close() // an owner stops its program and gives the lease up
	g.stopOnce.Do(func() { close(g.stopCh) })
	<-g.pingDone
	g.release()
}

// maybeEnd ends the group here once it has neither clients nor a program.
func (g *group) maybeEnd(force bool) {
	g.h.mu.Lock()
	g.mu.Lock()
	end := !g.ending && (force || (len(g.clients) == 0 && !g.running))
	if end {
		g.ending = true
		g.stopping = true
		g.h.removeLocked(g)
	}
	g.mu.Unlock()
	g.h.mu.Unlock()
	if end {
		close(g.endCh)
	}
}

// clusterHandler is what the engine calls on this daemon's side.
type clusterHandler struct{ g *group }

// Deliver fans output read from the stream out to the local clients, as
// the local pump would.
func (ch clusterHandler) Deliver(ms []cluster.Message) {
	for i := range ms {
		ch.g.deliver(&ms[i])
	}
	ch.g.flush()
}

// Start runs the program here: this daemon took the group's lease.
func (ch clusterHandler) Start() error {
	g := ch.g
	if !g.prog.Claim() {
		return ErrBusy
	}
	program := newID()
	proc, err := g.prog.Start(programEnv(program, g.cg.OwnerEpoch()))
	if err != nil {
		return err
	}
	g.log.Info("group program start", "pid", proc.Pid)
	done := make(chan struct{})
	g.mu.Lock()
	g.proc, g.running, g.termDone = proc, true, done
	g.termStop, g.termStopped = make(chan struct{}), false
	g.mu.Unlock()
	g.stdinMu.Lock()
	g.stdin = proc.Stdin
	g.stdinMu.Unlock()
	// Before any output of the program: the clients of the subprotocol on
	// every instance learn that the group's program changed.
	g.announce(program)
	go g.runOwned(proc, done) // waited for by Stop, or ends the group
	return nil
}

// Seeded records where the stream's reader starts, for the clients that
// resume (resume.go): the epoch and offset of its newest entry.
func (ch clusterHandler) Seeded(epoch string, offset uint64) {
	g := ch.g
	g.mu.Lock()
	g.epoch, g.offset, g.positioned = epoch, offset, true
	g.ring.clear(offset)
	g.mu.Unlock()
	g.outEpoch, g.outLast = epoch, offset // the reader's goroutine delivers
}

// runOwned serves the program with the restarts --restart asks for; a
// program that ends for good ends the group in the whole cluster.
func (g *group) runOwned(proc *process.Process, done chan struct{}) {
	stopped := func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-g.termStop:
			return true
		default:
			return false
		}
	}
	st := g.serveRestarting(proc, stopped)
	if !stopped() {
		code, reason := session.EndOfSession(st, false)
		g.cg.End(int(code), reason)
	}
	g.mu.Lock()
	g.running = false
	g.mu.Unlock()
	close(done)
	g.maybeEnd(false)
}

// Stop ends the program, at once (now) or with the kill sequence, and
// returns without waiting: the engine's lease loop must go on renewing
// the lease meanwhile. The channel is closed once the program is gone.
func (ch clusterHandler) Stop(now bool) <-chan struct{} {
	g := ch.g
	g.mu.Lock()
	proc, done := g.proc, g.termDone
	if g.termStop != nil && !g.termStopped {
		close(g.termStop)
		g.termStopped = true
	}
	g.mu.Unlock()
	if done == nil {
		done = make(chan struct{})
		close(done)
		return done
	}
	switch {
	case proc == nil: // between restarts: restart sees termStop
	case now:
		proc.Kill()
	default:
		proc.Stop()
	}
	return done
}

// StopTime is how long the running program's kill sequence lasts before
// its SIGKILL; 0 between restarts.
func (ch clusterHandler) StopTime() time.Duration {
	g := ch.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return 0
	}
	return g.proc.StopTime()
}

// Input writes one entry of the input stream to stdin, whole.
func (ch clusterHandler) Input(in cluster.Input) {
	g := ch.g
	g.stdinMu.Lock()
	defer g.stdinMu.Unlock()
	switch {
	case g.stdin == nil:
	case in.Kind == cluster.ClientMessage:
		g.writeMessage(in.Client, in.Data)
	case !g.h.opts.Envelope: // events are for envelope programs only
	case in.Kind == cluster.Join:
		g.writeStdin(in.Data)
	case in.Kind == cluster.Leave:
		g.inBuf = envelope.AppendLeave(g.inBuf[:0], in.Client, in.Code)
		g.writeStdin(g.inBuf)
	case in.Kind == cluster.Gap:
		g.inBuf = envelope.AppendGap(g.inBuf[:0], in.Lost, in.Instance)
		g.writeStdin(g.inBuf)
	}
}

// clusterInput sends a client's message (or join, or leave) to the input
// stream.
func (g *group) clusterInput(in cluster.Input) {
	in.Instance = g.h.engine.ID()
	g.cg.Send(in)
}
