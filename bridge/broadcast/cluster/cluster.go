// Package cluster spreads broadcast groups over several daemons through
// Redis: one lease-holding program per group in the cluster, its output in a
// Redis Stream every daemon reads, its input in another it consumes.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of the flags.
const (
	DefaultPrefix = "wsbridge"
	DefaultLease  = 5 * time.Second
	DefaultBuffer = 8 << 20
	// DefaultStreamBytes bounds each stream of a group (--redis-stream-bytes).
	DefaultStreamBytes = 64 << 20
	// DefaultHistoryTTL is how long a group's keys outlive its last
	// activity (--redis-history-ttl).
	DefaultHistoryTTL = time.Hour
)

// Retention: a group's output stream keeps at most StreamKeep entries (or
// --replay, if more) and its input stream InputKeep, each also at most
// Options.StreamBytes bytes, the oldest trimmed first; input is deleted as
// soon as the owner has written it to its program. A group's keys expire
// Options.HistoryTTL after its last activity.
const (
	StreamKeep = 10000
	InputKeep  = 10000
)

// Options configure the engine (the --redis flags and what of the broadcast
// flags the cluster needs).
type Options struct {
	URL      string // redis://[user:password@]host:port/db or rediss://
	Password string // overrides the URL's or the nodes' (--redis-password-file)
	// Sentinel, with MasterName, finds the master through these
	// sentinels and follows it across failovers (--redis-sentinel,
	// --redis-master); SentinelPassword is the sentinels' own
	// (--redis-sentinel-password-file). Cluster is a Redis Cluster's
	// seed nodes (--redis-cluster). At most one of URL, Sentinel, Cluster.
	Sentinel         *Nodes
	MasterName       string
	SentinelPassword string
	Cluster          *Nodes
	Prefix           string // of every key (--redis-prefix)
	Lease            time.Duration
	Buffer           int // bytes of output (and of input) held while Redis is away
	Replay           int // output messages a joining client gets first
	Linger           time.Duration
	Envelope         bool // keep the cluster's clients for join events
	// Settings sums up what instances of a group must agree on (command
	// and flags); the owner's win, and a differing instance logs it.
	Settings string
	Observer Observer
	Log      *slog.Logger

	// StreamBytes bounds each of a group's streams in Redis, in bytes of
	// fields and values (--redis-stream-bytes).
	StreamBytes int64
	// HistoryTTL: a group's keys expire this long after its last activity
	// (--redis-history-ttl).
	HistoryTTL time.Duration
	// MaxGroups bounds the groups the cluster keeps in Redis (--max-groups);
	// 0: unlimited.
	MaxGroups int
}

// Observer is told what the engine does, for metrics. Methods must not
// block; they are called from many goroutines.
type Observer interface {
	LeaseHeld(group string, held bool)
	// StreamLag: how long after its append an output message was read.
	StreamLag(d time.Duration)
	Reconnected()
	Buffered(delta int)
	// Dropped: output messages lost, where="buffer" (the owner's buffer
	// overflowed) or "stream" (this instance's clients missed them).
	Dropped(where string, n int64)
	// Rewritten: output messages a failover lost from the stream that
	// the owner wrote again from its buffer (a loss it repaired; one it
	// could not is Dropped, where="failover").
	Rewritten(n int64)
	// Trimmed: entries taken out of a group's stream, stream="out" or "in",
	// by its bounds (--redis-stream-bytes and the entry counts) rather than
	// read: output no client may ask for any more, or input no owner
	// consumed in time.
	Trimmed(stream string, entries, bytes int64)
}

type nopObserver struct{}

func (nopObserver) LeaseHeld(string, bool)  {}
func (nopObserver) StreamLag(time.Duration) {}
func (nopObserver) Reconnected()            {}
func (nopObserver) Buffered(int)            {}
func (nopObserver) Dropped(string, int64)   {}
func (nopObserver) Rewritten(int64)         {}

func (nopObserver) Trimmed(string, int64, int64) {}

// Engine is one daemon's side of the cluster: its Redis connection, its
// instance ID and its open groups.
type Engine struct {
	opts Options
	// newClient makes a client of the topology: pool 0 the shared one,
	// pool 1 a blocking read's own.
	newClient func(pool int) redis.UniversalClient
	rdb       redis.UniversalClient // commands; blocking reads use clients of their own
	// replicated: Sentinel or Cluster, where a failover may lose the last
	// writes (failover.go).
	replicated bool
	id         string
	obs        Observer
	log        *slog.Logger

	// inSeq numbers this instance's input, for the owner to drop what a
	// retry sent twice. It is the engine's, not a group's: a group this
	// daemon leaves and joins again must not start over at 1 while the
	// owner still remembers its last number.
	inSeq atomic.Uint64

	mu     sync.Mutex
	groups map[*Group]struct{}
	closed bool
}

// redisLog carries go-redis's own messages (pool dial failures and the
// like, which it prints to stderr by default) into the daemon's log at debug
// level: the engine reports what matters itself.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "msg", fmt.Sprintf(format, v...))
}

var setRedisLog sync.Once

// ParseURL checks a --redis URL and returns the client options for it. Its
// errors never repeat the URL, which may carry a password.
func ParseURL(raw, password string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a valid URL: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("scheme %q: want redis:// or rediss://", u.Scheme)
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if password != "" {
		o.Password = password
	}
	return o, nil
}

// New returns an engine for opts. Redis need not be up: every operation
// retries until it is.
func New(opts Options) (*Engine, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.StreamBytes <= 0 {
		opts.StreamBytes = DefaultStreamBytes
	}
	if opts.HistoryTTL <= 0 {
		opts.HistoryTTL = DefaultHistoryTTL
	}
	newClient, err := topology(&opts)
	if err != nil {
		return nil, err
	}
	e := &Engine{opts: opts, newClient: newClient, rdb: newClient(0), replicated: opts.Sentinel != nil || opts.Cluster != nil,
		id: newID(4), obs: opts.Observer, log: opts.Log, groups: map[*Group]struct{}{}}
	if e.obs == nil {
		e.obs = nopObserver{}
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("instance", e.id)
	setRedisLog.Do(func() { redis.SetLogger(redisLog{e.log}) })
	return e, nil
}

// Ping checks that Redis answers (the startup log line).
func (e *Engine) Ping(ctx context.Context) error { return e.rdb.Ping(ctx).Err() }

// ID is the instance's ID, unique in the cluster: client IDs start with it.
func (e *Engine) ID() string { return e.id }

// Log is the engine's logger.
func (e *Engine) Log() *slog.Logger { return e.log }

// blockingClient returns a client of one connection for a blocking read,
// so that a read found dead can be ended by closing it.
func (e *Engine) blockingClient() redis.UniversalClient { return e.newClient(1) }

// Close ends every open group (owners give their lease up) and the
// connection.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	groups := make([]*Group, 0, len(e.groups))
	for g := range e.groups {
		groups = append(groups, g)
	}
	e.mu.Unlock()
	for _, g := range groups {
		g.Close()
	}
	return e.rdb.Close()
}

// Open starts this instance's side of key's group: presence, the output
// reader, and a bid for the lease whenever it has clients. h is told what
// to deliver and when to run the program. The caller calls Close when the
// group has neither clients nor a program here.
func (e *Engine) Open(key string, h Handler) (*Group, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("the cluster engine is closed")
	}
	g := newGroup(e, key, h)
	e.groups[g] = struct{}{}
	g.start()
	return g, nil
}

func (e *Engine) forget(g *Group) {
	e.mu.Lock()
	delete(e.groups, g)
	e.mu.Unlock()
}

// keys names a group's Redis keys; the hash tag keeps them in one slot of a
// Redis Cluster, as the scripts need.
type keys struct {
	lease, out, in, meta, inst, clients string
}

func newKeys(prefix, group string) keys {
	base := prefix + ":{" + group + "}:"
	return keys{
		lease: base + "lease", out: base + "out", in: base + "in",
		meta: base + "meta", inst: base + "instances", clients: base + "clients",
	}
}

// all is every key of the group, in the order the scripts that write them
// expect (touchKeys).
func (k keys) all() []string {
	return []string{k.lease, k.meta, k.inst, k.out, k.in, k.clients}
}

func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
