package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// What a failover of a replicated Redis (Sentinel, Cluster) may cost.
// Replication is asynchronous: the replica promoted may lack the writes of
// the master's last instants. Three of them matter.
//
//   - The owner's last renewal: the new master's lease expires up to a
//     renewal interval before the owner's fence. The owner then counts its
//     fence from the renewal before the last (fence), and a bidder waits
//     for the lease and a renewal interval past the last renewal the new
//     master knows of (acquireScript): the old program is gone first.
//   - A lease just taken: before its program starts, the new owner waits
//     (up to confirmWait) for a replica to acknowledge it (WAIT), so that
//     a failover right after cannot hand the same lease to a second
//     instance.
//   - Output appended last: the owner keeps what it wrote (up to
//     --redis-buffer bytes) and, finding the stream's offset behind what it
//     wrote (an append refused, or a renewal), writes it again before
//     anything new; what it no longer has is counted (dropped, where
//     "failover") and announced (a gap event under --envelope, and the
//     readers' own count of the offsets that jump).

// confirmWait bounds the WAIT for a replica after a lease is taken.
func (g *Group) confirmWait() time.Duration { return min(g.interval()/2, time.Second) }

// acquire bids for the lease (acquireScript); on a replicated Redis a
// lease taken is confirmed by a replica before it is answered.
func (g *Group) acquire(ctx context.Context, token string, may bool) ([]any, error) {
	keys := []string{g.k.lease, g.k.meta}
	args := []any{token, g.e.opts.Lease.Milliseconds(), boolArg(may), g.holdOff().Milliseconds(), g.e.opts.HistoryTTL.Milliseconds()}
	res, err := acquireScript.Run(ctx, g.e.rdb, keys, args...).Slice()
	if err != nil || !g.e.replicated || len(res) < 5 || res[0] != int64(1) {
		return res, err
	}
	acked, err := g.confirm(ctx, keys, args)
	if err != nil {
		return nil, fmt.Errorf("confirming the lease with a replica: %w", err)
	}
	if acked == 0 {
		g.log.Warn("no replica acknowledged the lease in time; running the program anyway (a failover now could start it twice)",
			"waited_ms", g.confirmWait().Milliseconds())
	}
	return res, nil
}

// confirm takes the lease again (it is ours: the script only renews it)
// and waits for a replica to acknowledge it, on one connection to the
// group's master, as WAIT counts that connection's writes. Answers the
// replicas that acknowledged.
func (g *Group) confirm(ctx context.Context, keys []string, args []any) (int64, error) {
	var c *redis.Client
	switch r := g.e.rdb.(type) {
	case *redis.ClusterClient:
		m, err := r.MasterForKey(ctx, g.k.lease)
		if err != nil {
			return 0, err
		}
		c = m
	case *redis.Client:
		c = r
	default:
		return 0, fmt.Errorf("no WAIT on a %T", r)
	}
	var again, wait *redis.Cmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		again = acquireScript.Eval(ctx, p, keys, args...)
		wait = p.Do(ctx, "WAIT", 1, g.confirmWait().Milliseconds())
		return nil
	})
	if err != nil {
		return 0, err
	}
	if r, _ := again.Slice(); len(r) < 1 || r[0] != int64(1) {
		return 0, errors.New("the lease went to another instance")
	}
	return wait.Int64()
}

// renewResult reads renewScript's answer: -1, or {instances with clients,
// epoch, offset}.
func renewResult(res any) (n int64, epoch string, stored uint64) {
	switch v := res.(type) {
	case int64:
		return v, "", 0
	case []any:
		if len(v) == 3 {
			n, _ = v[0].(int64)
			epoch, _ = v[1].(string)
			s, _ := v[2].(string)
			stored, _ = strconv.ParseUint(s, 10, 64)
		}
	}
	return n, epoch, stored
}

// checkWritten compares the stream's offset a renewal found with what
// the owner had written before it (written, read as the renewal left):
// behind, a failover lost output, and the writer is asked to write it
// again even if no new output comes.
func (g *Group) checkWritten(o *ownership, written uint64, epoch string, stored uint64) {
	if epoch != o.epoch || stored >= written {
		return
	}
	g.log.Warn("the output stream is behind what this owner wrote (a failover lost it): writing it again",
		"stream_offset", stored, "written", written)
	g.outbox.pushStamped(pendingOut{repair: true}, nil, false)
}

// written is the offset of o's last output Redis acknowledged.
func (g *Group) written(o *ownership) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return o.written
}

// histEntry is output the owner wrote, kept to write again.
type histEntry struct {
	offset uint64
	enc    string
}

// remember keeps what was just written, dropping the oldest past
// --redis-buffer bytes. Called by the writer only.
func (g *Group) remember(o *ownership, written []pendingOut) {
	for _, p := range written {
		o.hist = append(o.hist, histEntry{p.offset, p.enc})
		o.histBytes += len(p.enc)
	}
	n := 0
	for o.histBytes > g.e.opts.Buffer && n < len(o.hist)-1 {
		o.histBytes -= len(o.hist[n].enc)
		n++
	}
	if n > 0 {
		clear(o.hist[:n])
		o.hist = o.hist[n:]
	}
}

// rewind answers what o still has after the stream's offset stored, to
// write again, and how many messages after stored it no longer has.
func rewind(o *ownership, stored uint64) (redo []pendingOut, lost int64) {
	next := stored + 1
	for _, h := range o.hist {
		if h.offset <= stored {
			continue
		}
		if h.offset > next {
			lost += int64(h.offset - next)
		}
		redo = append(redo, pendingOut{offset: h.offset, enc: h.enc})
		next = h.offset + 1
	}
	if o.written >= next {
		lost += int64(o.written - next + 1)
	}
	return redo, lost
}

// repaired counts and announces a failover's loss once the stream has
// what the owner could write again.
func (g *Group) repaired(rewritten int, lost int64) {
	g.e.obs.Rewritten(int64(rewritten))
	if lost > 0 {
		g.e.obs.Dropped("failover", lost)
		g.mu.Lock()
		g.gapPending += lost
		g.mu.Unlock()
	}
	g.log.Warn("output a failover lost from the stream: written again what the owner still had",
		"rewritten", rewritten, "lost", lost)
}
