package broadcast

import (
	"runtime"
	"sync"
)

// A group's clients are split among a few writer shards, so that one
// batch reaches thousands of clients from every core at once: a write to a
// socket costs a system call and the kernel's TCP work, some microseconds
// each, and 10,000 of them from one goroutine took a line 100 ms and more
// to reach the last client. Each shard owns a slice of the clients and
// writes them every batch handed to it, in one write (writev) per client
// per pass however many batches wait. The batches are shared read-only, as
// one goroutine's pass shared them before; each client's form of them
// (Client.formLocked: v1, compressed) is taken in its shard's pass, so a
// client's context-takeover deflater sees its batches one pass after the
// other, in order, from one goroutine at a time.
//
// Shard 0 is written by the goroutine that flushes (the one reading the
// program), inline, as before: a group of a few clients costs no hand-off
// at all. The other shards each run a goroutine only while they have
// batches to write, counted in the group's WaitGroup: an idle group holds
// none. A shard that falls behind by maxShardLag makes the flusher wait,
// and with it the program, so what waits for a shard is bounded.

const (
	// maxShards bounds a group's shards whatever the core count: past a
	// few, the clients' reads and the kernel's loopback work are the
	// limit, not the writers.
	maxShards = 8
	// smallGroup is how many clients a group has before its joiners go to
	// the other shards: up to it, the flusher writes them all itself
	// (about a millisecond of writes), as a hand-off would cost more than
	// it saves.
	smallGroup = 128
	// maxShardLag bounds the bytes handed to a shard and not yet written
	// to its clients; past it the flusher waits for the shard.
	maxShardLag = 1 << 20
)

// shardCount is how many shards a new group gets: one per core the Go
// runtime uses, at most maxShards.
func shardCount() int {
	return max(1, min(runtime.GOMAXPROCS(0), maxShards))
}

// shard is one writer of a group's output and the clients it writes.
//
// Lock order: group.mu, shard.mu, Client.mu.
type shard struct {
	g      *group
	inline bool // shard 0: run by the flusher itself
	n      int  // clients, under group.mu (attach picks the emptiest shard)

	mu      sync.Mutex
	idle    sync.Cond // on mu: pending was taken, or the runner stopped
	clients []*Client // each at its index c.slot
	pending []*batch  // handed over and not yet taken by the runner
	lag     int       // bytes in pending
	running bool      // a runner has work or is at it

	// The runner's own; one runs at a time.
	work    []*batch
	snap    []*Client
	scratch passScratch
}

func newShards(g *group) []*shard {
	shards := make([]*shard, shardCount())
	for i := range shards {
		s := &shard{g: g, inline: i == 0}
		s.idle.L = &s.mu
		shards[i] = s
	}
	return shards
}

// pickShardLocked is the shard a joining client goes to, with group.mu
// held: shard 0 while the group is small, then the one with fewest clients.
func (g *group) pickShardLocked() *shard {
	best := g.shards[0]
	if len(g.clients) < smallGroup {
		return best
	}
	for _, s := range g.shards[1:] {
		if s.n < best.n {
			best = s
		}
	}
	return best
}

// add makes c one of the shard's clients, with group.mu held.
func (s *shard) add(c *Client) {
	s.n++
	s.mu.Lock()
	c.shard, c.slot = s, len(s.clients)
	s.clients = append(s.clients, c)
	s.mu.Unlock()
}

// remove takes c out, with group.mu held. A pass already under way may
// still offer c a batch: c is detached by then and takes none.
func (s *shard) remove(c *Client) {
	s.n--
	s.mu.Lock()
	last := len(s.clients) - 1
	moved := s.clients[last]
	s.clients[c.slot], moved.slot = moved, c.slot
	s.clients[last] = nil
	s.clients = s.clients[:last]
	c.shard = nil
	s.mu.Unlock()
}

// push hands b to the shard, with group.mu held, and reports whether the
// caller is to start its runner (inline, or a goroutine). A shard without
// clients takes nothing.
func (s *shard) push(b *batch) (start bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		return false
	}
	s.pending = append(s.pending, b)
	// What the batch holds: its plain form and, once a client of
	// wsbridge.broadcast.v1 joined, the v1 one. The compressed forms are
	// smaller, and a context-takeover client's is made in the pass.
	s.lag += len(b.buf)
	if b.v1 != nil {
		s.lag += len(b.v1.buf)
	}
	if s.running {
		return false
	}
	s.running = true
	return true
}

// run writes what is handed to the shard until nothing is left.
func (s *shard) run() {
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.running = false
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		s.work, s.pending = s.pending, s.work[:0]
		s.lag = 0
		// A copy of the clients, so that joins and leaves go on while
		// the pass writes: a client that joins meanwhile was attached
		// after these batches (see Client.from), one that leaves is
		// detached and takes nothing.
		s.snap = append(s.snap[:0], s.clients...)
		s.idle.Broadcast()
		s.mu.Unlock()

		delivered := 0
		for _, c := range s.snap {
			delivered += c.enqueueBatches(s.work, &s.scratch)
		}
		clear(s.snap) // holds no departed client until the next pass
		clear(s.work)
		s.g.h.obs.Messages(0, 0, int64(delivered))
	}
}

// runOwned is run on a goroutine of its own, counted in the group's
// WaitGroup.
func (s *shard) runOwned() {
	defer s.g.wg.Done()
	s.run()
}

// waitLag waits until the shard is less than maxShardLag behind.
func (s *shard) waitLag() {
	s.mu.Lock()
	for s.lag > maxShardLag {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// waitIdle waits until the shard has written everything handed to it.
func (s *shard) waitIdle() {
	s.mu.Lock()
	for s.running {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// fanOut hands b to every shard, with group.mu held, starting the runners
// of the other shards; true: shard 0 is for the caller to run, after it
// lets group.mu go.
func (g *group) fanOut(b *batch) (runInline bool) {
	for _, s := range g.shards {
		if !s.push(b) {
			continue
		}
		if s.inline {
			runInline = true
			continue
		}
		// group.mu is held and s has clients, whose readers are counted:
		// the count is not 0 here.
		g.wg.Add(1)
		go s.runOwned()
	}
	return runInline
}

// afterFanOut runs shard 0 if fanOut said so, then waits while another
// shard is too far behind.
func (g *group) afterFanOut(runInline bool) {
	if runInline {
		g.shards[0].run()
	}
	for _, s := range g.shards[1:] {
		s.waitLag()
	}
}

// waitShards waits until every batch handed to the shards is written (or
// queued for its client): what follows for a client (an addressed message,
// a close) must come after them.
func (g *group) waitShards() {
	for _, s := range g.shards {
		s.waitIdle()
	}
}
