package broadcast

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
)

// Hub holds the groups of a daemon, one per key (the request path), and
// counts their clients.
type Hub struct {
	opts       Options
	obs        Observer
	queueLimit int // bytes of output waiting for one client
	maxMsg     int // largest output message
	inputLimit int // largest client message

	engine      *cluster.Engine // with --redis; nil otherwise
	engineClose sync.Once       // by Shutdown or Retire

	mu       sync.Mutex
	groups   map[string]*group
	starting map[string]int // admitted clients about to start key's group
	started  *sync.Cond     // on mu: a starter joined or gave up
	retired  bool           // no group starts: Retire waits for the last
	clients  atomic.Int64   // attached or about to be, for MaxClients
	wg       sync.WaitGroup
}

// NewHub returns a Hub for opts.
func NewHub(opts Options) *Hub {
	h := &Hub{opts: opts, obs: opts.Observer, groups: map[string]*group{}, starting: map[string]int{}}
	h.started = sync.NewCond(&h.mu)
	if h.obs == nil {
		h.obs = nopObserver{}
	}
	h.queueLimit = opts.ClientQueue
	if h.queueLimit <= 0 {
		h.queueLimit = DefaultClientQueue
	}
	// A message must fit a client's queue, so the queue bounds it when
	// --maxframesize does not.
	h.maxMsg = h.queueLimit - maxFrameHeader
	if opts.MaxFrameSize > 0 && int(opts.MaxFrameSize) < h.maxMsg {
		h.maxMsg = int(opts.MaxFrameSize)
	}
	h.inputLimit = h.queueLimit
	if opts.MaxFrameSize > 0 {
		h.inputLimit = int(opts.MaxFrameSize)
	}
	if opts.Redis != nil {
		ro := *opts.Redis
		ro.Replay, ro.Linger, ro.Envelope = opts.Replay, opts.Linger, opts.Envelope
		ro.MaxGroups = opts.MaxGroups
		e, err := cluster.New(ro)
		if err != nil {
			// The flags were checked with cluster.ParseURL: not reached.
			panic(err)
		}
		h.engine = e
		// Say at startup whether Redis answers: an operator then learns of
		// a wrong --redis before the first client does. Groups retry on
		// their own either way.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := e.Ping(ctx); err != nil {
			e.Log().Warn("redis does not answer; broadcast groups will retry with backoff", "err", err)
		} else {
			e.Log().Info("redis answers")
		}
		cancel()
	}
	return h
}

// maxFrameHeader is the longest frame header (opcode, 127, 8-byte length).
const maxFrameHeader = 10

// ReserveClient takes a place for a client under MaxClients, before the
// upgrade; false: there is none. A client that joins gives it back when it
// leaves; otherwise the caller gives it back with ReleaseClient.
func (h *Hub) ReserveClient() bool {
	n := h.clients.Add(1)
	if h.opts.MaxClients > 0 && n > int64(h.opts.MaxClients) {
		h.clients.Add(-1)
		return false
	}
	return true
}

// ReleaseClient gives back a place that no client took.
func (h *Hub) ReleaseClient() { h.clients.Add(-1) }

// Clients is the number of clients attached (or about to be).
func (h *Hub) Clients() int { return int(h.clients.Load()) }

// Starter reports whether a client of key would start its group's program:
// none runs and no other admitted client is about to start one. It then
// counts the client as a starter until Started, so that clients arriving
// together take one process slot, not one each. A client that would start
// a group beyond --max-groups gets ErrGroupsFull.
func (h *Hub) Starter(key string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.groups[key] != nil || h.starting[key] > 0 {
		return false, nil
	}
	if h.fullLocked() {
		return false, ErrGroupsFull
	}
	h.starting[key]++
	return true, nil
}

// fullLocked reports whether --max-groups groups run or are starting.
func (h *Hub) fullLocked() bool {
	if h.opts.MaxGroups <= 0 {
		return false
	}
	n := len(h.groups)
	for key := range h.starting {
		if h.groups[key] == nil {
			n++
		}
	}
	return n >= h.opts.MaxGroups
}

// Started ends what Starter began, once the client joined or gave up.
func (h *Hub) Started(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.starting[key]--; h.starting[key] <= 0 {
		delete(h.starting, key)
	}
	h.started.Broadcast()
}

// Join attaches c to key's group, starting the group's program first if
// none runs; started reports that. The client is attached before any
// output is read or its join event is written, so it gets all of both. A
// client that is not the starter (see Starter) waits for a starter of key
// to join or give up first, rather than start a second program.
//
// The program starts (with --redis: the group's side of the cluster opens)
// outside the hub's lock: the group is in the hub meanwhile, and clients of
// it wait for it to be ready, while the other groups' clients go on.
func (h *Hub) Join(key string, c *Client, prog Program, starter bool) (started bool, err error) {
	g, err := h.joinOrCreate(key, c, prog, starter)
	if g == nil || err != nil {
		return false, err
	}
	// With --redis the group here opens its side of the cluster's group
	// instead of starting the program (clustered.go).
	start := g.start
	if h.engine != nil {
		start = g.openCluster
	}
	err = start()
	h.mu.Lock()
	if err != nil {
		h.removeLocked(g)
		g.startErr = err
		close(g.ready)
		h.mu.Unlock()
		h.wg.Done()
		// As for a pipe session whose program failed to start: the slot
		// goes back, and with --once that was the session.
		if prog.Free != nil {
			prog.Free()
		}
		if prog.Ended != nil {
			prog.Ended()
		}
		return false, err
	}
	g.attach(c)
	close(g.ready)
	h.mu.Unlock()
	h.obs.GroupStarted()
	// The gate's registry learns of a new group outside h.mu: during
	// shutdown Track makes it go away at once, and GoAway takes h.mu.
	if prog.Track != nil && !prog.Track(g) {
		g.GoAway()
	}
	// Owned by the hub (Shutdown, Wait) and the registry.
	if g.cg != nil {
		go g.clusterEnd()
	} else {
		go g.run(g.proc)
	}
	return true, nil
}

// joinOrCreate attaches c to key's running group (nil group), or puts a new
// group for key in the hub, not ready yet, and returns it for Join to
// start. A group still starting is waited for outside h.mu.
func (h *Hub) joinOrCreate(key string, c *Client, prog Program, starter bool) (*group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		for !starter && h.groups[key] == nil && h.starting[key] > 0 {
			h.started.Wait()
		}
		g := h.groups[key]
		if g == nil {
			break
		}
		select {
		case <-g.ready:
			g.attach(c)
			return nil, nil
		default:
		}
		// Started, failed or gone by the time h.mu is ours again: look
		// again.
		h.mu.Unlock()
		<-g.ready
		h.mu.Lock()
	}
	// A starter was counted by Starter; a client that was admitted to a
	// group that ended since is counted now.
	if !starter && h.fullLocked() {
		return nil, ErrGroupsFull
	}
	if h.retired {
		return nil, ErrRetired
	}
	if !prog.Claim() {
		return nil, ErrBusy
	}
	g := newGroup(h, key, prog)
	h.groups[key] = g
	h.wg.Add(1) // done by the group's end (run or clusterEnd), or by Join if it fails to start
	return g, nil
}

// Shutdown makes every group go away (clients get 1001 once the output is
// delivered) and waits for them; if ctx ends first, the rest are killed and
// dropped. The gate's registry does the same through Program.Track.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	groups := make([]*group, 0, len(h.groups))
	for _, g := range h.groups {
		groups = append(groups, g)
	}
	h.mu.Unlock()
	// A group still starting goes away once it is ready; one that failed
	// to start is gone already.
	started := groups[:0]
	for _, g := range groups {
		if <-g.ready; g.startErr == nil {
			started = append(started, g)
		}
	}
	groups = started
	for _, g := range groups {
		g.GoAway()
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		h.closeEngine()
		return nil
	case <-ctx.Done():
	}
	for _, g := range groups {
		g.ForceClose()
	}
	<-done
	h.closeEngine()
	return ctx.Err()
}

// Retire stops groups from starting, waits for the running ones to end,
// and closes the engine. Once retired is set under mu no group is added,
// so wg is not added to from zero while Wait runs.
func (h *Hub) Retire() {
	h.mu.Lock()
	h.retired = true
	h.mu.Unlock()
	h.wg.Wait()
	h.closeEngine()
}

func (h *Hub) closeEngine() {
	if h.engine != nil {
		h.engineClose.Do(func() { h.engine.Close() })
	}
}

// Wait waits for every group that has started to end.
func (h *Hub) Wait() { h.wg.Wait() }

// remove forgets g if it is still key's group.
func (h *Hub) removeLocked(g *group) {
	if h.groups[g.key] == g {
		delete(h.groups, g.key)
	}
}
