package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var errFenced = errors.New("the lease is another instance's: output refused")

// writeOutput appends a batch of the owner's output, fenced by the lease.
func (g *Group) writeOutput(ctx context.Context, batch []pendingOut) (bool, error) {
	g.mu.Lock()
	o := g.owner
	g.mu.Unlock()
	if o == nil {
		return false, nil // the term ended: not ours to write
	}
	maxlen := max(StreamKeep, g.e.opts.Replay)
	args := make([]any, 0, 5+2*len(batch))
	args = append(args, o.token, g.e.opts.Lease.Milliseconds(), maxlen, o.epoch, batch[len(batch)-1].offset)
	end := false
	for _, p := range batch {
		args = append(args, p.offset, p.enc)
		end = end || p.end
	}
	res, err := appendScript.Run(ctx, g.e.rdb, []string{g.k.lease, g.k.out, g.k.meta}, args...).Int64()
	if err != nil {
		return true, err
	}
	if res < 0 {
		g.log.Error("output refused: another instance holds the lease")
		g.wake() // the lease loop finds the loss and stops the program
		return false, errFenced
	}
	g.mu.Lock()
	gap := g.gapPending
	g.gapPending = 0
	g.mu.Unlock()
	if gap > 0 && g.e.opts.Envelope {
		g.sendNow(Input{Kind: Gap, Lost: gap, Instance: g.e.id})
	}
	if end {
		g.finish(o)
	}
	return false, nil
}

var errNotSeeded = errors.New("the output stream's reader has no starting point yet")

// writeInput adds a batch of input to the input stream, and keeps the
// list of the cluster's clients (--envelope) for a new owner's joins.
// Nothing is written before the output reader knows where it starts:
// the program's answer to a client's join (or message) comes after that
// point, so the client gets it. A reader that cannot find its start in a
// renewal interval is taken for Redis away: the batch is tried again.
func (g *Group) writeInput(ctx context.Context, batch []pendingInput) (bool, error) {
	if err := g.awaitSeeded(ctx); err != nil {
		return ctx.Err() == nil, err
	}
	_, err := g.e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range batch {
			in := &batch[i].in
			p.XAdd(ctx, &redis.XAddArgs{Stream: g.k.in, MaxLen: InputKeep, Approx: true, Values: in.fields(g.e.id, batch[i].seq)})
			switch in.Kind {
			case Join:
				p.HSet(ctx, g.k.clients, in.Client, in.Data)
			case Leave:
				p.HDel(ctx, g.k.clients, in.Client)
			}
		}
		return nil
	})
	return err != nil, err
}

// awaitSeeded waits up to a renewal interval for the output reader's
// starting point.
func (g *Group) awaitSeeded(ctx context.Context) error {
	select {
	case <-g.seeded:
		return nil
	default:
	}
	t := time.NewTimer(g.interval())
	defer t.Stop()
	select {
	case <-g.seeded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errNotSeeded
	}
}

// consume writes the input stream to the program, in order, from where
// the last owner stopped, and records how far it got.
func (g *Group) consume(ctx context.Context, o *ownership) {
	defer g.wg.Done()
	defer close(o.done)
	var joined map[string][]byte
	if g.e.opts.Envelope {
		joined = g.rejoin(ctx)
		if joined == nil {
			return
		}
	}
	seqs := map[string]uint64{}
	pos := o.inpos
	var wait retry
	for ctx.Err() == nil {
		g.rejoinIfAsked(joined)
		res, err := o.reader.XRead(ctx, &redis.XReadArgs{Streams: []string{g.k.in, pos}, Count: 256, Block: g.blockFor()}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			g.e.obs.Reconnected()
			g.log.Warn("input stream read failed; reconnecting", "err", err, "after", pos)
			if !wait.sleep(ctx) {
				return
			}
			continue
		}
		wait.reset()
		for _, s := range res {
			for _, ent := range s.Messages {
				// A program restarted while the batch is written gets
				// its joins before the rest of it.
				g.rejoinIfAsked(joined)
				pos = ent.ID
				in, inst, seq, err := decodeInput(ent.Values)
				if err != nil {
					continue
				}
				if seq != 0 && seq <= seqs[inst] {
					continue // sent twice
				}
				seqs[inst] = seq
				if joined != nil && !g.admitInput(joined, &in) {
					continue
				}
				g.h.Input(in)
			}
		}
		r, err := storeInputScript.Run(ctx, g.e.rdb, []string{g.k.lease, g.k.meta}, o.token, g.e.opts.Lease.Milliseconds(), pos).Int64()
		if err == nil && r < 0 {
			g.log.Error("input position refused: another instance holds the lease")
			g.wake()
			return
		}
	}
}

// Rejoin asks for a join event for every client of the cluster, for the
// owner's program that was just restarted (--envelope); they are written
// before the next input.
func (g *Group) Rejoin() {
	g.rejoinReq.Store(true)
}

// rejoinIfAsked writes the joins Rejoin asked for; joined is the
// consumer's view of the cluster's clients, nil without --envelope.
func (g *Group) rejoinIfAsked(joined map[string][]byte) {
	if g.rejoinReq.Swap(false) {
		g.writeJoins(joined)
	}
}

// writeJoins writes a join event for every client in joined.
func (g *Group) writeJoins(joined map[string][]byte) {
	for id, join := range joined {
		g.h.Input(Input{Kind: Join, Client: id, Data: join, Instance: instanceOf(id)})
	}
}

// admitInput keeps the program's view of the clients consistent: one join
// per client, a leave only after a join.
func (g *Group) admitInput(joined map[string][]byte, in *Input) bool {
	switch in.Kind {
	case Join:
		if _, ok := joined[in.Client]; ok {
			return false
		}
		joined[in.Client] = in.Data
	case Leave:
		if _, ok := joined[in.Client]; !ok {
			return false
		}
		delete(joined, in.Client)
	}
	return true
}

// rejoin gives a new owner's program a join for every client of the
// cluster (of an instance still present), first of all.
func (g *Group) rejoin(ctx context.Context) map[string][]byte {
	var wait retry
	for {
		clients, live, err := g.clusterClients(ctx)
		if err == nil {
			joined := map[string][]byte{}
			for id, join := range clients {
				if live[instanceOf(id)] {
					joined[id] = []byte(join)
				}
			}
			g.writeJoins(joined)
			return joined
		}
		g.log.Warn("reading the cluster's clients", "err", err)
		if !wait.sleep(ctx) {
			return nil
		}
	}
}

// clusterClients answers the cluster's clients with their join events and
// the instances that are present.
func (g *Group) clusterClients(ctx context.Context) (map[string]string, map[string]bool, error) {
	if _, err := deadInstancesScript.Run(ctx, g.e.rdb, []string{g.k.inst}).Result(); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, err
	}
	insts, err := g.e.rdb.ZRange(ctx, g.k.inst, 0, -1).Result()
	if err != nil {
		return nil, nil, err
	}
	live := map[string]bool{g.e.id: true}
	for _, id := range insts {
		live[id] = true
	}
	clients, err := g.e.rdb.HGetAll(ctx, g.k.clients).Result()
	return clients, live, err
}

// reapInstances makes the clients of instances whose presence expired
// (a daemon that died) leave, so they stop counting (--envelope).
func (g *Group) reapInstances(ctx context.Context) {
	dead, err := deadInstancesScript.Run(ctx, g.e.rdb, []string{g.k.inst}).StringSlice()
	if err != nil || len(dead) == 0 || !g.e.opts.Envelope {
		return
	}
	gone := map[string]bool{}
	for _, d := range dead {
		gone[d] = true
	}
	ids, err := g.e.rdb.HKeys(ctx, g.k.clients).Result()
	if err != nil {
		return
	}
	n := 0
	for _, id := range ids {
		if gone[instanceOf(id)] {
			g.sendNow(Input{Kind: Leave, Client: id, Code: 1006, Instance: instanceOf(id)})
			n++
		}
	}
	g.log.Warn("instances gone: their clients leave", "instances", strings.Join(dead, ","), "clients", strconv.Itoa(n))
}
