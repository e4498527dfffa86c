package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Nodes is a --redis-sentinel or --redis-cluster value:
// [redis://|rediss://][user[:password]@]HOST:PORT,HOST:PORT,... The
// scheme (rediss: TLS) and the credentials apply to every node; without a
// scheme, plain TCP.
type Nodes struct {
	Addrs    []string
	TLS      bool
	Username string
	Password string
}

// ParseNodes checks a list of nodes. Its errors never repeat the
// credentials.
func ParseNodes(raw string) (Nodes, error) {
	var n Nodes
	rest := raw
	if scheme, after, ok := strings.Cut(rest, "://"); ok {
		switch scheme {
		case "redis":
		case "rediss":
			n.TLS = true
		default:
			return Nodes{}, fmt.Errorf("scheme %q: want redis://, rediss:// or none", scheme)
		}
		rest = after
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, err := url.PathUnescape(rest[:i])
		if err != nil {
			return Nodes{}, errors.New("the credentials before @ are not valid URL text")
		}
		n.Username, n.Password, _ = strings.Cut(user, ":")
		rest = rest[i+1:]
	}
	rest = strings.TrimSuffix(rest, "/")
	for _, a := range strings.Split(rest, ",") {
		host, port, err := net.SplitHostPort(strings.TrimSpace(a))
		if err != nil || host == "" {
			return Nodes{}, fmt.Errorf("%q: want HOST:PORT", a)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return Nodes{}, fmt.Errorf("%q: port must be 1-65535", a)
		}
		n.Addrs = append(n.Addrs, net.JoinHostPort(host, port))
	}
	return n, nil
}

// topology builds the engine's clients: one Redis (Options.URL), a master
// found through Sentinel (Options.Sentinel), or a Redis Cluster
// (Options.Cluster). newClient(0) is the shared client for commands;
// newClient(1) is a client of one connection (per node) for a blocking
// read, which can be ended by closing it.
func topology(opts *Options) (newClient func(pool int) redis.UniversalClient, err error) {
	switch {
	case opts.Sentinel != nil:
		u := universal(opts, opts.Sentinel)
		u.MasterName = opts.MasterName
		u.SentinelUsername, u.SentinelPassword = opts.Sentinel.Username, opts.SentinelPassword
		if opts.SentinelPassword == "" {
			u.SentinelPassword = opts.Sentinel.Password
		}
		// The data nodes' credentials come from --redis-password-file
		// only, unless the list names them.
		u.Username, u.Password = opts.Sentinel.Username, opts.Sentinel.Password
		if opts.Password != "" {
			u.Password = opts.Password
		}
		return func(pool int) redis.UniversalClient {
			o := u.Failover()
			o.PoolSize, o.MaxRetries = pool, -1
			return redis.NewFailoverClient(o)
		}, nil
	case opts.Cluster != nil:
		u := universal(opts, opts.Cluster)
		u.Username, u.Password = opts.Cluster.Username, opts.Cluster.Password
		if opts.Password != "" {
			u.Password = opts.Password
		}
		return func(pool int) redis.UniversalClient {
			o := u.Cluster()
			o.PoolSize = pool
			// A command follows MOVED and, after a failover, the new
			// master (the slots are reloaded); a dead node costs a
			// dial timeout per try, bounded by the caller's context.
			o.MaxRedirects = 3
			c := redis.NewClusterClient(o)
			c.AddHook(reloadOnError{c})
			return c
		}, nil
	}
	ro, err := ParseURL(opts.URL, opts.Password)
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	tune := func(o *redis.Options) {
		o.MaxRetries = -1
		o.DialTimeout = opTimeout(opts)
		o.ReadTimeout = opTimeout(opts)
		o.WriteTimeout = o.ReadTimeout
		o.ContextTimeoutEnabled = true
		o.DisableIdentity = true
		o.Protocol = 2
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	}
	tune(ro)
	return func(pool int) redis.UniversalClient {
		o := *ro
		if pool > 0 {
			o.PoolSize, o.MinIdleConns = pool, 0
		}
		return redis.NewClient(&o)
	}, nil
}

// opTimeout bounds one command: commands fail fast while Redis is away,
// and callers retry on their own schedule, which the lease's timing
// depends on.
func opTimeout(opts *Options) time.Duration {
	return min(opts.Lease/5, time.Second)
}

// streamClient returns a client of one connection for the blocking read
// of key's stream. In a Cluster it is a plain client of the master that
// serves key's slot, as the shared client's slot map says (after a failed
// read, refreshed first): a reader reconnecting after a failover costs one
// connection, not a cluster client that loads the slot map and the
// command table again. Elsewhere it is blockingClient.
func (e *Engine) streamClient(key string, failed bool) redis.UniversalClient {
	cc, ok := e.rdb.(*redis.ClusterClient)
	if !ok {
		return e.blockingClient()
	}
	if failed {
		cc.ReloadState(context.Background())
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout(&e.opts))
	defer cancel()
	m, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return e.blockingClient()
	}
	o := *m.Options()
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns = 1, 0, 0
	return redis.NewClient(&o)
}

// reloadOnError asks a Cluster client to read the slots' masters again
// after a command failed: go-redis otherwise keeps sending a dead master's
// slots to it for up to 10 s, longer than a lease, while its replica has
// taken over. go-redis runs one reload at a time, 200 ms apart at most.
type reloadOnError struct{ c *redis.ClusterClient }

func (h reloadOnError) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnError) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && !errors.Is(err, redis.Nil) && !errors.Is(err, context.Canceled) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadOnError) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// universal is what every client of a Sentinel or Cluster topology shares.
func universal(opts *Options, n *Nodes) *redis.UniversalOptions {
	u := &redis.UniversalOptions{
		Addrs:                    n.Addrs,
		MaxRetries:               -1,
		DialTimeout:              opTimeout(opts),
		ReadTimeout:              opTimeout(opts),
		WriteTimeout:             opTimeout(opts),
		ContextTimeoutEnabled:    true,
		DisableIdentity:          true,
		Protocol:                 2,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if n.TLS {
		// No ServerName: each node's certificate is checked against the
		// host it is dialled at (tls.DialWithDialer infers it), as a
		// Sentinel or Cluster names masters that are not in the list.
		u.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return u
}
