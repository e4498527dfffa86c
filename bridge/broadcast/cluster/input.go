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
// A stream found behind what was written before (a failover lost it) gets
// what the owner still has of it first (failover.go).
func (g *Group) writeOutput(ctx context.Context, batch []pendingOut) (bool, error) {
	g.mu.Lock()
	o := g.owner
	var expect uint64
	if o != nil {
		expect = o.written
	}
	g.mu.Unlock()
	if o == nil {
		return false, nil // the term ended: not ours to write
	}
	msgs := make([]pendingOut, 0, len(batch))
	end := false
	for _, p := range batch {
		if !p.repair {
			msgs = append(msgs, p)
			end = end || p.end
		}
	}
	var redo []pendingOut
	var lost int64
	for range 3 { // each refusal is one more failover, during the write
		res, err := g.appendOutput(ctx, o, expect, redo, msgs)
		if err != nil {
			return true, err
		}
		trimmed, ok := res.([]any)
		if !ok {
			g.log.Error("output refused: another instance holds the lease")
			g.wake() // the lease loop finds the loss and stops the program
			return false, errFenced
		}
		if len(trimmed) == 2 && trimmed[0] == int64(-2) {
			stored, _ := trimmed[1].(int64)
			expect = uint64(max(stored, 0))
			redo, lost = rewind(o, expect)
			continue
		}
		if n, bytes := trimCounts(trimmed); n > 0 {
			g.e.obs.Trimmed("out", n, bytes)
		}
		if redo != nil || lost > 0 {
			g.repaired(len(redo), lost)
		}
		g.remember(o, msgs)
		if len(msgs) > 0 {
			g.mu.Lock()
			o.written = msgs[len(msgs)-1].offset
			g.mu.Unlock()
		}
		g.announceGap()
		if end {
			g.finish(o)
		}
		return false, nil
	}
	return true, errors.New("the output stream kept losing what was written")
}

// appendOutput runs appendScript: what is written again (redo), then the
// new messages, the stream required to be at expect already.
func (g *Group) appendOutput(ctx context.Context, o *ownership, expect uint64, redo, msgs []pendingOut) (any, error) {
	last := expect
	if n := len(msgs); n > 0 {
		last = msgs[n-1].offset
	} else if n := len(redo); n > 0 {
		last = redo[n-1].offset
	}
	last = max(last, g.written(o))
	maxlen := max(StreamKeep, g.e.opts.Replay)
	args := make([]any, 0, 8+2*(len(redo)+len(msgs)))
	args = append(args, o.token, g.e.opts.Lease.Milliseconds(), maxlen, o.epoch, last,
		g.e.opts.StreamBytes, g.e.opts.HistoryTTL.Milliseconds(), expect)
	for _, p := range redo {
		args = append(args, p.offset, p.enc)
	}
	for _, p := range msgs {
		args = append(args, p.offset, p.enc)
	}
	return appendScript.Run(ctx, g.e.rdb, g.k.all(), args...).Result()
}

// announceGap sends the envelope program a gap event for output lost on
// the way to the stream (a full buffer, a failover), once it is written.
func (g *Group) announceGap() {
	g.mu.Lock()
	gap := g.gapPending
	g.gapPending = 0
	g.mu.Unlock()
	if gap > 0 && g.e.opts.Envelope {
		g.sendNow(Input{Kind: Gap, Lost: gap, Instance: g.e.id})
	}
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
	args := make([]any, 0, 3+8*len(batch))
	args = append(args, g.e.opts.StreamBytes, InputKeep, g.e.opts.HistoryTTL.Milliseconds())
	for i := range batch {
		in := &batch[i].in
		op := "-"
		switch in.Kind {
		case Join:
			op = "j"
		case Leave:
			op = "l"
		}
		f := in.fields(g.e.id, batch[i].seq)
		args = append(args, op, len(f))
		args = append(args, f...)
	}
	res, err := appendInputScript.Run(ctx, g.e.rdb, g.k.all(), args...).Slice()
	if err != nil {
		return true, err
	}
	g.inputTrimmed(trimCounts(res))
	return false, nil
}

// trimCounts reads a script's {entries, bytes} trimmed.
func trimCounts(res []any) (entries, bytes int64) {
	if len(res) == 2 {
		entries, _ = res[0].(int64)
		bytes, _ = res[1].(int64)
	}
	return entries, bytes
}

// entrySize is what the scripts count for a stream entry (esize): its
// field names and values.
func entrySize(v map[string]any) int {
	n := 0
	for k, x := range v {
		s, _ := x.(string)
		n += len(k) + len(s)
	}
	return n
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
	var written []any // the entries of a read, with their sizes, to delete
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
		written = written[:0]
		for _, s := range res {
			for _, ent := range s.Messages {
				// A program restarted while the batch is written gets
				// its joins before the rest of it.
				g.rejoinIfAsked(joined)
				pos = ent.ID
				written = append(written, ent.ID, entrySize(ent.Values))
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
		args := append([]any{o.token, g.e.opts.Lease.Milliseconds(), pos, g.e.opts.HistoryTTL.Milliseconds()}, written...)
		r, err := storeInputScript.Run(ctx, g.e.rdb, g.k.all(), args...).Int64()
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
