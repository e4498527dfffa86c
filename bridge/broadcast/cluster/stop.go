package cluster

import (
	"context"
	"time"
)

// How an owner's program is stopped. An ordinary stop (no instance has
// clients, or the group closes here: its last client left, the daemon
// shuts down) gives the program the kill sequence, as a pipe session's
// gets, while the lease loop goes on renewing the lease: no other instance
// can start the program before this one is gone, and the lease is given
// up only then. The program is killed at once (SIGKILL) only when the
// lease may pass before a kill sequence could end: the lease is lost
// (another instance holds it, or Redis did not answer until fenceAfter),
// or, as the stop begins, what is left of the lease since its last good
// renewal is shorter than the kill sequence.

// stopMargin is kept between a kill sequence's end and the moment the
// lease could pass, for the SIGKILL to take effect.
func (g *Group) stopMargin() time.Duration { return g.e.opts.Lease / 10 }

// beginStop starts an ordinary stop of o's program (see above); the lease
// loop gives the lease up once the program is gone (endStopped).
func (g *Group) beginStop(o *ownership, why string) {
	if o.stopping {
		return
	}
	left := time.Until(g.fence(o))
	seq := g.h.StopTime()
	now := seq+g.stopMargin() > left
	if now {
		g.log.Warn(why+": killing the program at once: the lease may pass before a kill sequence ends",
			"kill_sequence_ms", seq.Milliseconds(), "lease_left_ms", left.Milliseconds())
	} else {
		g.log.Info(why+": stopping the program", "kill_sequence_ms", seq.Milliseconds())
	}
	g.stopProgram(o, now)
}

// stopProgram stops o's input and its program, at once with now or with
// the kill sequence, and returns without waiting: o.over is closed once
// both are gone. Called again with now, it cuts a kill sequence short.
func (g *Group) stopProgram(o *ownership, now bool) {
	first := !o.stopping
	o.stopping = true
	if first {
		o.cancel()
		o.reader.Close()
	}
	gone := g.h.Stop(now)
	if !first {
		return
	}
	g.wg.Add(1)
	go func() { // waited for by Close (g.wg)
		defer g.wg.Done()
		<-gone
		<-o.done
		close(o.over)
		g.wake()
	}()
}

// loseTerm ends o's term when the lease is lost: the program is killed at
// once, and no bid is made until it is gone (tick).
func (g *Group) loseTerm(o *ownership) {
	g.mu.Lock()
	if g.owner == o {
		g.owner = nil
	}
	g.dying = o
	g.mu.Unlock()
	g.stopProgram(o, true)
	g.giveUp(o, false)
}

// endStopped gives the lease up once a stopped program is gone, after its
// last output left for the stream (for a renewal interval at most); until
// then the lease is renewed as usual.
func (g *Group) endStopped(o *ownership) time.Duration {
	select {
	case <-o.over:
	default:
		return g.interval() // the watcher wakes the loop
	}
	if o.overSeen.IsZero() {
		o.overSeen = time.Now()
	}
	if g.outbox.pending() > 0 && time.Since(o.overSeen) < g.interval() {
		return retryMin
	}
	g.mu.Lock()
	mine := g.owner == o
	if mine {
		g.owner = nil
	}
	g.mu.Unlock()
	if mine { // else finish gave it up: the program's end was written
		g.giveUp(o, true)
	}
	if g.closingNow() {
		g.closeTerms()
	}
	return g.interval()
}

// giveUp ends o's term: its queued output is dropped and, with release,
// the lease goes to the next owner at once.
func (g *Group) giveUp(o *ownership, release bool) {
	g.outbox.clear()
	g.e.obs.LeaseHeld(g.key, false)
	if release {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		releaseScript.Run(ctx, g.e.rdb, []string{g.k.lease, g.k.meta}, o.token)
		cancel()
	}
	g.log.Info("lease given up", "released", release)
}

// closingNow reports whether Close is waiting for the term to end.
func (g *Group) closingNow() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing
}

// closeTerms tells Close that no term is left here.
func (g *Group) closeTerms() {
	g.closeOnce.Do(func() { close(g.termsOver) })
}
