package cluster

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ownership is this instance's term as the group's owner.
type ownership struct {
	token     string
	epoch     string // names the offset sequence; a new one means history was lost
	offset    uint64 // of the last output message queued
	inpos     string // input stream ID the consumer starts after
	lastRenew time.Time
	// fenceFrom is the renewal the fence counts from: the last one, or
	// on a replicated Redis (Sentinel, Cluster) the one before, as a
	// failover may lose the last (see acquireScript).
	fenceFrom time.Time

	// The writer's: the offset of the last output Redis acknowledged
	// (under Group.mu: the lease loop reads it), and what was written
	// lately, to write again if a failover loses it (failover.go).
	written   uint64
	hist      []histEntry
	histBytes int
	idleSince time.Time
	ending    bool // End is queued: no more output
	reader    redis.UniversalClient
	cancel    context.CancelFunc
	done      chan struct{} // the consumer has stopped

	// Set once the program is being stopped (beginStop), by the lease loop
	// only: over is closed once the program and the consumer are gone.
	stopping bool
	over     chan struct{}
	overSeen time.Time // when the lease loop first found over closed

	countedAt time.Time // last renewed in the cluster's count of groups (limits.go)
}

// Timing. The owner renews every third of the lease and, while Redis does
// not answer, retries every retryRenew; it stops its program fenceAfter
// its last good renewal. A non-owner bids for a lease that expired only a
// third of the lease after the expiry it saw, so the owner's retries win
// after an outage (Redis restarted empty) and the old program is gone
// before a new one starts.
func (g *Group) interval() time.Duration { return g.e.opts.Lease / 3 }

func (g *Group) fenceAfter() time.Duration {
	l := g.e.opts.Lease
	return l + l/3 - l/10
}

// fence is when o's program must be gone unless a renewal answers first.
func (g *Group) fence(o *ownership) time.Time { return o.fenceFrom.Add(g.fenceAfter()) }

// holdOff is how long after the last renewal Redis knows of a lease that
// vanished may be taken (acquireScript): the lease and a renewal interval,
// as a bidder that saw the lease waits.
func (g *Group) holdOff() time.Duration { return g.e.opts.Lease + g.interval() }

const retryRenew = 200 * time.Millisecond

// leaseLoop keeps presence, the lease and the probe of the reader. It
// waits on Redis only: a program being stopped, or input the program does
// not read, is watched by goroutines of their own that wake it.
func (g *Group) leaseLoop() {
	defer g.wg.Done()
	select {
	case <-g.seeded:
	case <-g.ctx.Done():
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			g.abdicate()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			g.updatePresence(ctx, false)
			cancel()
			return
		case <-g.kick:
		case <-t.C:
		}
		next := g.tick()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// tick does one round and answers when the next is due.
func (g *Group) tick() time.Duration {
	ctx, cancel := context.WithTimeout(g.ctx, g.interval())
	defer cancel()
	start := time.Now()
	g.mu.Lock()
	clients, o, ended, closing := g.clients, g.owner, g.ended, g.closing
	dying := g.dying
	g.mu.Unlock()
	if o != nil {
		// Nothing an owner asks Redis outlasts its fence (renew).
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, g.fence(o))
		defer cancel()
	}
	if err := g.updatePresence(ctx, clients > 0); err != nil {
		g.log.Debug("presence", "err", err)
	}
	g.probe(ctx)
	if o != nil {
		return g.renew(ctx, o, start)
	}
	if dying != nil {
		select {
		case <-dying.over:
			g.mu.Lock()
			g.dying = nil
			g.mu.Unlock()
		default:
			// No bid while the program of a lost term is still being
			// killed: two must never run at once.
			return g.interval()
		}
	}
	if closing {
		g.closeTerms()
		return g.interval()
	}
	if clients > 0 && !ended {
		return g.bid(ctx, start)
	}
	return g.interval()
}

// renew extends the lease. A renewal that does not answer by the fence
// (fenceAfter past the last good one) is given up, and the program is
// killed then, not a retry or a timeout later: past it another instance
// may take the lease.
func (g *Group) renew(ctx context.Context, o *ownership, start time.Time) time.Duration {
	fence := g.fence(o)
	if !time.Now().Before(fence) {
		g.log.Error("lease lost: Redis did not answer in time; killing the program")
		g.loseTerm(o)
		return g.interval()
	}
	ctx, cancel := context.WithDeadline(ctx, fence)
	defer cancel()
	k := g.k
	written := g.written(o)
	res, err := renewScript.Run(ctx, g.e.rdb, []string{k.lease, k.meta, k.inst, k.out, k.in, k.clients},
		o.token, g.e.opts.Lease.Milliseconds(), g.e.opts.HistoryTTL.Milliseconds(), g.e.opts.Settings).Result()
	n, epoch, stored := renewResult(res)
	switch {
	case err != nil:
		if !time.Now().Before(fence) {
			g.log.Error("lease lost: Redis did not answer in time; killing the program", "err", err)
			g.loseTerm(o)
			return g.interval()
		}
		g.log.Warn("lease renewal failed; retrying", "err", err, "since_renewed_ms", time.Since(o.lastRenew).Milliseconds())
		if g.closingNow() {
			g.beginStop(o, "the group closes here")
		}
		return min(retryRenew, time.Until(fence))
	case n < 0:
		g.log.Error("lease lost: another instance holds it; killing the program")
		g.loseTerm(o)
		return g.interval()
	}
	g.keepCounted(ctx, o)
	g.checkWritten(o, written, epoch, stored)
	g.mu.Lock()
	o.fenceFrom = start
	if g.e.replicated {
		o.fenceFrom = o.lastRenew
	}
	o.lastRenew = start
	idle := n == 0 && g.clients == 0
	closing := g.closing
	g.mu.Unlock()
	if o.stopping {
		return g.endStopped(o)
	}
	if !idle {
		o.idleSince = time.Time{}
	} else if o.idleSince.IsZero() {
		o.idleSince = start
	}
	switch {
	case closing:
		g.beginStop(o, "the group closes here")
		return g.interval()
	case idle && time.Since(o.idleSince) >= g.e.opts.Linger:
		g.beginStop(o, "no instance has clients")
		return g.interval()
	}
	g.reapInstances(ctx)
	return g.interval()
}

// bid tries to take the lease; a lease that vanished early waits for the
// owner to take it back first.
func (g *Group) bid(ctx context.Context, start time.Time) time.Duration {
	g.mu.Lock()
	seen := g.seenExpiry
	g.mu.Unlock()
	mayAt := seen.Add(g.interval())
	may := seen.IsZero() || !start.Before(mayAt)
	token := g.e.id + ":" + newID(4)
	res, err := g.acquire(ctx, token, may)
	if err != nil {
		g.log.Debug("lease bid", "err", err)
		return retryRenew
	}
	if len(res) >= 5 && res[0] == int64(1) {
		g.becomeOwner(token, res[1].(string), res[2].(string), res[3].(string), res[4].(string), start)
		return g.interval()
	}
	pttl, _ := res[1].(int64)
	if pttl == -3 && len(res) == 3 {
		// An owner renewed recently, as far as this Redis knows: its
		// program may still run (acquireScript).
		wait, _ := res[2].(int64)
		return min(g.interval(), time.Duration(wait)*time.Millisecond+10*time.Millisecond)
	}
	if pttl > 0 {
		g.mu.Lock()
		g.seenExpiry = start.Add(time.Duration(pttl) * time.Millisecond)
		g.mu.Unlock()
		g.checkSettings(ctx)
		return min(g.interval(), time.Duration(pttl)*time.Millisecond+g.interval()+10*time.Millisecond)
	}
	if !may {
		return time.Until(mayAt) + 10*time.Millisecond
	}
	return g.interval()
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// checkSettings logs, once, that the owner runs with other settings.
func (g *Group) checkSettings(ctx context.Context) {
	g.mu.Lock()
	done := g.settingsOK
	g.mu.Unlock()
	if done {
		return
	}
	theirs, err := g.e.rdb.HGet(ctx, g.k.meta, "settings").Result()
	if err != nil {
		return
	}
	g.mu.Lock()
	g.settingsOK = true
	g.mu.Unlock()
	if theirs != g.e.opts.Settings {
		g.log.Error("the group's owner runs with other settings (command or flags); its settings win while it owns the group", "ours", g.e.opts.Settings, "owner", theirs)
	}
}

// becomeOwner starts the program here and the consumer of its input.
func (g *Group) becomeOwner(token, epoch, offset, inpos, settings string, start time.Time) {
	off, _ := strconv.ParseUint(offset, 10, 64)
	if epoch == "" {
		epoch = newID(6)
	}
	if settings != "" && settings != g.e.opts.Settings {
		g.log.Warn("the group ran with other settings before; ours win now", "ours", g.e.opts.Settings, "before", settings)
	}
	g.mu.Lock()
	if g.closing { // Close began while the bid was on its way
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		releaseScript.Run(ctx, g.e.rdb, []string{g.k.lease, g.k.meta}, token)
		cancel()
		return
	}
	cctx, cancel := context.WithCancel(g.ctx)
	o := &ownership{token: token, epoch: epoch, offset: off, written: off, inpos: inpos, lastRenew: start, fenceFrom: start,
		reader: g.e.blockingClient(), cancel: cancel, done: make(chan struct{}), over: make(chan struct{})}
	g.owner = o
	g.mu.Unlock()
	g.e.obs.LeaseHeld(g.key, true)
	g.log.Info("lease taken: running the program here", "epoch", epoch, "offset", off, "input_after", inpos)
	if err := g.h.Start(); err != nil {
		g.log.Error("program failed to start", "err", err)
		cancel()
		close(o.done)
		g.End(1011, "program failed to start")
		return
	}
	g.wg.Add(1)
	go g.consume(cctx, o)
}

// abdicate ends whatever term is left as the group closes for good: its
// program is killed at once and waited for (the lease loop is ending, so
// nothing is left to renew), and the lease is given up.
func (g *Group) abdicate() {
	g.mu.Lock()
	o, dying := g.owner, g.dying
	g.owner, g.dying = nil, nil
	g.mu.Unlock()
	if dying != nil {
		<-dying.over
	}
	if o == nil {
		return
	}
	g.stopProgram(o, true)
	<-o.over
	g.giveUp(o, true)
}

// finish ends the term after the program's end reached the stream: the
// program is gone already, so only the consumer stops.
func (g *Group) finish(o *ownership) {
	g.mu.Lock()
	if g.owner != o {
		g.mu.Unlock()
		return
	}
	g.owner = nil
	g.ended = true
	g.mu.Unlock()
	o.cancel()
	o.reader.Close()
	g.e.obs.LeaseHeld(g.key, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	releaseScript.Run(ctx, g.e.rdb, []string{g.k.lease, g.k.meta}, o.token)
	cancel()
	g.log.Info("program ended: lease given up")
}

// updatePresence marks this instance as having clients of the group (for
// a lease's worth), or not. An entry that was missing (Redis lost it, or
// the owner took the instance for dead) sends the instance's clients'
// joins again.
func (g *Group) updatePresence(ctx context.Context, present bool) error {
	g.mu.Lock()
	was := g.present
	g.mu.Unlock()
	if !present && !was {
		return nil
	}
	added, err := presenceScript.Run(ctx, g.e.rdb, g.k.all(), g.e.id, g.e.opts.Lease.Milliseconds(), boolArg(present), g.e.opts.HistoryTTL.Milliseconds()).Int64()
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.present = present
	var joins []Input
	if present && added == 1 {
		for id, join := range g.local {
			joins = append(joins, Input{Kind: Join, Client: id, Data: join, Instance: g.e.id})
		}
	}
	g.mu.Unlock()
	// The owner ignores a join it has seen; one that reaped this instance
	// while Redis was away (or a new owner after Redis lost its data) gets
	// its clients back.
	for _, in := range joins {
		g.sendNow(in)
	}
	return nil
}
