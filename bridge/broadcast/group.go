package broadcast

import (
	"context"
	"github.com/coder/websocket"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// stderrDrain bounds how long an ended program's last stderr is waited for;
// only a process that escaped the group can hold the pipe open that long.
const stderrDrain = time.Second

// group is one program and the clients that share it. Its run goroutine
// reads the program's output and fans it out (pump.go) through the group's
// writer shards (shard.go); each client's reader goroutine fans its
// messages in.
//
// Lock order: Hub.mu, group.mu, shard.mu, Client.mu; group.stdinMu is never
// held with another but group.mu inside it.
type group struct {
	h    *Hub
	key  string
	log  *slog.Logger
	prog Program

	mu        sync.Mutex
	clients   map[*Client]struct{}
	byID      map[string]*Client
	ring      *ring
	shards    []*shard         // the writers of its clients; shards[0] is the flusher's
	seq       uint64           // batches fanned out so far
	proc      *process.Process // the running one; nil between restarts
	stopping  bool             // no more joins, no more restarts
	goingAway bool             // the server shuts down: clients get 1001
	linger    *time.Timer
	stopCh    chan struct{}
	stopOnce  sync.Once

	// ready is closed, under Hub.mu, once the program started (with
	// --redis: the cluster side opened), or failed to with startErr; the
	// fields that start sets are read only after.
	ready    chan struct{}
	startErr error

	stdinMu sync.Mutex
	stdin   *os.File // nil between restarts: messages then are dropped
	inBuf   []byte   // an envelope being written, under stdinMu

	wg sync.WaitGroup // client readers, writers, shard writers and pings

	// With --redis (clustered.go): this daemon's side of the cluster's
	// group, and the program's term while this daemon owns the group.
	cg          *cluster.Group
	running     bool          // the program runs here
	ending      bool          // this daemon's side is ending
	endCh       chan struct{} // closed when it ends
	pingDone    <-chan struct{}
	termDone    chan struct{} // closed when the term's program is gone
	termStop    chan struct{} // closed by the engine's Stop
	termStopped bool

	// The subprotocol wsbridge.broadcast.v1 (resume.go), under mu: the
	// epoch of the offsets, the offset of the last message delivered here,
	// whether (with --redis) the reader's start is known, and how many of
	// its clients are attached. Once one joined, v1Ever: batches are built
	// in its form too.
	epoch      string
	offset     uint64
	positioned bool
	v1Clients  int
	v1Ever     atomic.Bool

	// Used by the goroutine that delivers output only (pump.go; with
	// --redis the stream's reader).
	out      []byte   // frames of the batch being built
	outEnds  []int    // where each of its frames ends
	outOffs  []uint64 // the offset of each
	outV1    []byte   // the batch in the subprotocol's form
	v1Offs   []uint64
	v1Ends   []int
	v1       v1Builder
	outEpoch string // of the last message delivered
	outLast  uint64 // its offset
	outFloor uint64 // offsets of outEpoch up to this one were not seen
	msg      []byte // a message arriving in pieces
	scratch  []byte
}

// newGroup returns key's group, with no program or clients yet.
func newGroup(h *Hub, key string, prog Program) *group {
	log := prog.Log
	if log == nil {
		log = slog.Default()
	}
	g := &group{
		h: h, key: key, prog: prog, log: log.With("group", key),
		clients: map[*Client]struct{}{},
		ring:    newRing(h.opts.Replay),
		stopCh:  make(chan struct{}),
		ready:   make(chan struct{}),
		v1:      v1Builder{binary: h.opts.Binary},
	}
	if h.engine == nil {
		// One machine: the group's offsets are its own, for its lifetime.
		g.epoch = newID()
		g.outEpoch = g.epoch
	}
	if h.opts.Envelope {
		g.byID = map[string]*Client{}
	}
	g.shards = newShards(g)
	return g
}

// start starts the group's program.
func (g *group) start() error {
	proc, err := g.prog.Start(programEnv(newID(), g.epoch)) // no client to tell of it yet
	if err != nil {
		return err
	}
	g.proc, g.stdin = proc, proc.Stdin
	g.log.Info("group start", "pid", proc.Pid)
	return nil
}

// programEnv is what a program of the group learns of itself: an ID of its
// own, new at each start (a --restart, or a new owner with --redis), and
// the epoch of the group's offsets. IDs the program makes up (such as
// message IDs) stay unique across restarts and failovers when they carry
// WSBRIDGE_PROGRAM: the environment, unlike an event on stdin, changes
// nothing for a program that does not look.
func programEnv(program, epoch string) []string {
	return []string{"WSBRIDGE_PROGRAM=" + program, "WSBRIDGE_EPOCH=" + epoch}
}

// announce tells the clients of the subprotocol that a new program runs
// (owner event): with --redis through the stream, to every instance's;
// otherwise here, from the goroutine that delivers output, as a message.
func (g *group) announce(program string) {
	m := cluster.Message{Kind: cluster.Owner, Data: []byte(program)}
	if g.cg != nil {
		g.cg.Output(m)
		return
	}
	m.Offset, m.Epoch = g.outLast+1, g.epoch
	g.deliver(&m)
	g.flush()
}

// attach adds c, with Hub.mu held: it gets the replay, then every message
// from now on, with nothing between the two lost or repeated.
func (g *group) attach(c *Client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c.g = g
	b := g.ring.replay()
	if c.v1 {
		b = g.attachV1Locked(c)
	}
	if b != nil {
		b = c.prepare(b)
		c.queue = append(c.queue, b)
		c.queued = len(c.bytesOf(b))
		c.startWriterLocked()
	}
	// Batches fanned out before now are in the replay, whether or not
	// the shard has written them yet.
	c.from = g.seq
	g.pickShardLocked().add(c)
	g.clients[c] = struct{}{}
	if g.byID != nil {
		g.byID[c.info.ID] = c
	}
	if g.linger != nil {
		g.linger.Stop()
		g.linger = nil
	}
	g.h.obs.ClientAttached()
	if g.cg != nil {
		g.cg.SetClients(len(g.clients))
	}
	g.wg.Add(1)
	go c.readLoop()
}

// leave removes c once its connection has ended; the last client out
// starts the --linger wait, after which the program is stopped.
func (g *group) leave(c *Client, code int) {
	c.detach()
	g.mu.Lock()
	delete(g.clients, c)
	c.shard.remove(c)
	if c.v1 {
		g.v1Clients--
	}
	if g.byID != nil {
		delete(g.byID, c.info.ID)
	}
	last := len(g.clients) == 0 && !g.stopping
	if g.cg != nil {
		g.cg.SetClients(len(g.clients))
		last = false // the owner lingers for the whole cluster
	}
	if last && g.h.opts.Linger > 0 {
		g.linger = time.AfterFunc(g.h.opts.Linger, g.lingerOver)
	}
	g.mu.Unlock()
	g.h.clients.Add(-1)
	g.h.obs.ClientDetached()
	g.log.Log(context.Background(), session.LevelAccess, "disconnect", "client", c.info.ID, "remote", c.info.Remote, "code", code)
	g.leaveEvent(c, code)
	if g.cg != nil {
		g.maybeEnd(false)
		return
	}
	if last && g.h.opts.Linger <= 0 {
		g.lingerOver()
	}
}

// lingerOver stops the program if still no client came.
func (g *group) lingerOver() {
	g.h.mu.Lock()
	g.mu.Lock()
	idle := len(g.clients) == 0
	if idle {
		g.h.removeLocked(g)
	}
	g.mu.Unlock()
	g.h.mu.Unlock()
	if idle {
		g.stop()
	}
}

// stop ends the group: no more joins or restarts, and the program gets the
// kill sequence.
func (g *group) stop() {
	g.stopOnce.Do(func() { close(g.stopCh) })
	g.mu.Lock()
	g.stopping = true
	proc := g.proc
	g.mu.Unlock()
	if proc != nil {
		proc.Stop()
	}
}

// GoAway makes the group end as the server shuts down.
func (g *group) GoAway() {
	if g.cg != nil {
		g.waitShards() // the close follows what was handed to them
		g.mu.Lock()
		g.goingAway = true
		for c := range g.clients {
			c.closeAfterQueued(websocket.StatusGoingAway, "server shutting down")
		}
		g.mu.Unlock()
		g.maybeEnd(true)
		return
	}
	g.h.mu.Lock()
	g.mu.Lock()
	g.goingAway = true
	g.h.removeLocked(g)
	g.mu.Unlock()
	g.h.mu.Unlock()
	g.stop()
}

// ForceClose kills the program and drops every connection.
func (g *group) ForceClose() {
	g.stop()
	g.mu.Lock()
	if g.proc != nil {
		g.proc.Kill()
	}
	for c := range g.clients {
		c.conn.CloseNow()
	}
	g.mu.Unlock()
	if g.cg != nil {
		g.maybeEnd(true)
	}
}

// serve pumps one program's output until it ends, and reaps it.
func (g *group) serve(proc *process.Process) process.Status {
	stderrDone := make(chan struct{})
	go g.logStderr(proc.Stderr, stderrDone) // waited for below
	if err := g.pump(proc.Stdout); err != nil {
		g.log.Error("read stdout", "err", err)
	}
	// The program closed its stdout: whatever is left of its group gets
	// the kill sequence, as in a pipe session.
	proc.Stop()
	<-proc.Done()
	// A client's write to a stdin nobody reads gives up now.
	proc.Stdin.SetWriteDeadline(time.Now())
	g.stdinMu.Lock()
	g.stdin = nil
	g.stdinMu.Unlock()
	g.mu.Lock()
	g.proc = nil
	g.mu.Unlock()
	select {
	case <-stderrDone:
	case <-time.After(stderrDrain):
	}
	proc.Release()
	<-stderrDone
	st := proc.Status()
	g.log.Info("group program ended", "pid", proc.Pid, "exit", st.String(), "duration_ms", time.Since(proc.Started()).Milliseconds())
	return st
}

// end closes every client with the code of how the program ended (1001 at
// shutdown) after the output queued for it, and waits for them.
func (g *group) end(st process.Status) {
	g.waitShards() // the close follows what was handed to them
	g.h.mu.Lock()
	g.mu.Lock()
	g.stopping = true
	g.h.removeLocked(g)
	code, reason := session.EndOfSession(st, g.goingAway)
	for c := range g.clients {
		c.closeAfterQueued(code, reason)
	}
	if g.linger != nil {
		g.linger.Stop()
	}
	g.mu.Unlock()
	g.h.mu.Unlock()
	g.stopOnce.Do(func() { close(g.stopCh) })
	g.release("close", int(code))
}

// release waits for the group's clients to be gone, then gives back what
// the group held: its process slot, its place in the registry and, with
// --once, the session.
func (g *group) release(logArgs ...any) {
	g.wg.Wait()
	if g.prog.Free != nil {
		g.prog.Free()
	}
	g.h.obs.GroupEnded()
	g.log.Info("group end", logArgs...)
	if g.prog.Untrack != nil {
		g.prog.Untrack(g)
	}
	if g.prog.Ended != nil {
		g.prog.Ended()
	}
}

// startKeepalive pings every client each --pingms; a client that does not
// answer within two intervals is dropped. The returned channel is closed
// when the pinging has stopped (with the group).
func (g *group) startKeepalive() <-chan struct{} {
	done := make(chan struct{})
	interval := g.prog.Ping
	if interval <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-g.stopCh:
				return
			case <-t.C:
			}
			g.mu.Lock()
			for c := range g.clients {
				if c.pinging.CompareAndSwap(false, true) {
					g.wg.Add(1)
					go c.ping(interval)
				}
			}
			g.mu.Unlock()
		}
	}()
	return done
}

func (c *Client) ping(interval time.Duration) {
	defer c.g.wg.Done()
	defer c.pinging.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*interval)
	defer cancel()
	if err := c.conn.Ping(ctx); err != nil && ctx.Err() != nil {
		c.g.log.Log(context.Background(), session.LevelAccess, "ping timeout", "client", c.info.ID)
		c.conn.CloseNow()
	}
}

var _ session.Member = (*group)(nil)
