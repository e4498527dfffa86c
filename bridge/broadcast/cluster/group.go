package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Handler is the local side of a group (the broadcast kind), told by the
// engine what to do. Deliver is called by one goroutine, Input by one
// (while this instance owns the group), Start, Stop and StopTime by one.
type Handler interface {
	// Deliver hands output messages to the local clients, in the stream's
	// order; the first call holds the replay (the last --replay messages).
	Deliver(ms []Message)
	// Start runs the group's program here: this instance took the lease.
	// Its output goes to Group.Output, its end (unless stopped) to
	// Group.End.
	Start() error
	// Stop ends the program and returns at once, with a channel closed
	// once it is gone: with now, at once (SIGKILL; the lease is lost or
	// may pass before a kill sequence ends), otherwise with the kill
	// sequence (stdin closed, SIGINT, SIGTERM, SIGKILL, with their waits).
	// Called again with now, it cuts a kill sequence short.
	Stop(now bool) <-chan struct{}
	// StopTime is how long the program's kill sequence lasts before its
	// SIGKILL.
	StopTime() time.Duration
	// Input writes one input entry to the program's stdin, whole.
	Input(in Input)
}

// Group is this instance's side of one cluster group.
type Group struct {
	e   *Engine
	key string
	k   keys
	h   Handler
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the lease loop, the reader, the writers
	kick   chan struct{}  // run the lease loop now
	seeded chan struct{}  // the reader has its starting point

	inbox     *outbox[pendingInput] // input on its way to the stream
	outbox    *outbox[pendingOut]   // the owner's output on its way
	rejoinReq atomic.Bool

	mu         sync.Mutex
	clients    int
	present    bool              // in the instances set, as far as we know
	local      map[string][]byte // --envelope: this instance's clients, their join events
	owner      *ownership        // nil unless this instance holds the lease
	dying      *ownership        // a lost term whose program is being killed
	closing    bool              // Close waits for the term to end
	ended      bool              // the program ended for good: no more bids
	seenExpiry time.Time         // when the lease last seen held expires
	settingsOK bool              // a mismatch was logged already
	gapPending int64             // output dropped from the buffer, to announce
	trimLogged time.Time         // input trimmed unread was last logged

	readMu     sync.Mutex
	reader     redis.UniversalClient // the blocking read's own client
	lastID     string                // last output entry delivered
	stuckAt    string                // lastID when a probe last found the stream ahead
	resetRead  bool                  // the stream was made again: read from the start
	readSeeded bool

	termsOver chan struct{} // closed by the lease loop once closing left no term
	closeOnce sync.Once
}

type pendingInput struct {
	in  Input
	seq uint64
}

type pendingOut struct {
	offset uint64
	enc    string
	end    bool
	repair bool // no message: check the stream against what was written
}

func newGroup(e *Engine, key string, h Handler) *Group {
	ctx, cancel := context.WithCancel(context.Background())
	g := &Group{
		e: e, key: key, k: newKeys(e.opts.Prefix, key), h: h, log: e.log.With("group", key),
		ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1), seeded: make(chan struct{}),
		termsOver: make(chan struct{}),
	}
	g.inbox = newOutbox(e.opts.Buffer, func(p *pendingInput) int { return p.in.size() }, e.obs)
	g.outbox = newOutbox(e.opts.Buffer, func(p *pendingOut) int { return len(p.enc) + 16 }, e.obs)
	if e.opts.Envelope {
		g.local = map[string][]byte{}
	}
	return g
}

func (g *Group) start() {
	g.wg.Add(4)
	go g.leaseLoop()
	go g.readLoop()
	go func() {
		defer g.wg.Done()
		g.inbox.run(g.ctx, g.writeInput, g.redisError)
	}()
	go func() {
		defer g.wg.Done()
		g.outbox.run(g.ctx, g.writeOutput, g.redisError)
	}()
}

func (g *Group) redisError(err error) {
	g.log.Debug("redis", "err", err)
}

// ClientID makes a local client ID unique in the cluster.
func (e *Engine) ClientID(local string) string { return e.id + "-" + local }

// instanceOf is the instance a cluster client ID belongs to.
func instanceOf(clientID string) string {
	inst, _, _ := strings.Cut(clientID, "-")
	return inst
}

// SetClients tells the engine how many clients the group has here; with
// some, this instance counts as present and bids for the lease.
func (g *Group) SetClients(n int) {
	g.mu.Lock()
	changed := (g.clients == 0) != (n == 0)
	g.clients = n
	g.mu.Unlock()
	if changed {
		g.wake()
	}
}

func (g *Group) wake() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Send queues input for the owner's program: a client's message, its join
// or its leave. While Redis is away input is buffered up to
// --redis-buffer, the oldest dropped beyond; while it answers, a full
// buffer makes Send wait for room: the client is slowed to Redis's pace.
func (g *Group) Send(in Input) { g.send(in, true) }

// sendNow is Send for the engine's own goroutines (the lease loop, the
// reader), which must not wait on clients' input: it never waits for room,
// and past the limit while Redis answers it keeps everything. What they
// send is bounded by the clients (joins, leaves) or is one event (a gap).
func (g *Group) sendNow(in Input) { g.send(in, false) }

func (g *Group) send(in Input, wait bool) {
	if g.local != nil {
		g.mu.Lock()
		switch in.Kind {
		case Join:
			g.local[in.Client] = in.Data
		case Leave:
			delete(g.local, in.Client)
		}
		g.mu.Unlock()
	}
	// Numbered as it is queued, in one step: numbers go up in the order
	// the owner reads them.
	g.inbox.pushStamped(pendingInput{in: in}, func(p *pendingInput) { p.seq = g.e.inSeq.Add(1) }, wait)
}

// Output queues one message of the program for the stream; ignored unless
// this instance owns the group. m is encoded at once: its buffers are the
// caller's again when Output returns.
func (g *Group) Output(m Message) {
	g.mu.Lock()
	o := g.owner
	if o == nil || o.ending {
		g.mu.Unlock()
		return
	}
	o.offset++
	p := pendingOut{offset: o.offset, enc: m.encode(), end: m.Kind == End}
	if p.end {
		o.ending = true
	}
	g.mu.Unlock()
	if n := g.outbox.pushCounted(p); n > 0 {
		g.e.obs.Dropped("buffer", n)
		g.mu.Lock()
		g.gapPending += n
		g.mu.Unlock()
		g.log.Warn("output dropped: Redis is away and --redis-buffer is full", "messages", n)
	}
}

// End tells every instance that the program ended for good, with the
// close code its clients get; the lease is then given up.
func (g *Group) End(code int, reason string) {
	g.Output(Message{Kind: End, Code: code, Reason: reason})
}

// Owner reports whether this instance holds the group's lease.
func (g *Group) Owner() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.owner != nil
}

// Close ends this instance's side of the group: input still queued gets a
// second to leave, an owner stops its program with the kill sequence while
// it keeps the lease, then gives the lease up (stop.go), and presence is
// taken out.
func (g *Group) Close() {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && g.inbox.pending() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	g.mu.Lock()
	g.closing = true
	term := g.owner != nil || g.dying != nil
	g.mu.Unlock()
	if term {
		g.wake()
		<-g.termsOver
	}
	g.cancel()
	g.wg.Wait()
	g.e.forget(g)
}
