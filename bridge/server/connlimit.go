package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/internal/peerlimit"
	"github.com/wsbridge/wsbridge/bridge/ratelimit"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// --max-conns-per-ip bounds what one client can hold before it has
// authenticated, at two levels, both by client address with IPv6 grouped
// by /64:
//   - open TCP connections per peer, counted as they are accepted: one more
//     is answered 429 (or, under TLS, just closed) at once, without a
//     goroutine or a read. A --trusted-proxy peer is exempt, since it
//     carries many clients;
//   - WebSocket sessions per client address, the --trusted-proxy resolved
//     one, checked before the upgrade (429): what limits a client behind a
//     proxy.
// --conn-rate bounds how fast one client address (the resolved one) opens
// WebSocket sessions: a token bucket per address, checked before the
// upgrade (429 with Retry-After).
// Each refusal is logged, a line a second at most, with the count of those
// left out, and counted by reason.

// limitRetryAfter is the Retry-After of a per-address refusal: a client
// over its limit may try again once one of its connections has ended.
const limitRetryAfter = "1"

// refuseLogEvery spaces the log lines of per-address refusals.
const refuseLogEvery = time.Second

// refusalWriteTimeout bounds the write of a refused connection's 429: it
// fits the socket's empty send buffer, so it never waits in practice.
const refusalWriteTimeout = 100 * time.Millisecond

// connRefusal is the whole answer to a connection over the limit.
var connRefusal = func() []byte {
	const body = "429 Too Many Requests: too many connections from this address\n"
	return []byte("HTTP/1.1 429 Too Many Requests\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Retry-After: " + limitRetryAfter + "\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// connLimits are the per-address limits of one server.
type connLimits struct {
	perIP    int
	conns    *peerlimit.Counter // TCP connections by peer
	sessions *peerlimit.Counter // sessions by resolved client
	rate     ratelimit.Rate
	starts   *ratelimit.Buckets // session starts by resolved client (--conn-rate)
	trusted  TrustedProxies
	log      *slog.Logger
	refused  func(reason string) // counts a refusal (metrics)
	connLog  peerlimit.Sampler
	sessLog  peerlimit.Sampler
	rateLog  peerlimit.Sampler
	fullLog  peerlimit.Sampler
}

func newConnLimits(perIP int, rate ratelimit.Rate, trusted TrustedProxies, log *slog.Logger, refused func(reason string)) *connLimits {
	return &connLimits{
		perIP: perIP, rate: rate, trusted: trusted, log: log, refused: refused,
		conns:    peerlimit.NewCounter(perIP),
		sessions: peerlimit.NewCounter(perIP),
		starts:   ratelimit.NewBuckets(rate, 0),
		connLog:  peerlimit.Sampler{Every: refuseLogEvery},
		sessLog:  peerlimit.Sampler{Every: refuseLogEvery},
		rateLog:  peerlimit.Sampler{Every: refuseLogEvery},
		fullLog:  peerlimit.Sampler{Every: time.Minute},
	}
}

// listener counts l's connections; plain is false when TLS will be spoken
// on them (then a refusal is a close: a plain 429 would be garbage).
// Without a limit l is left as it is.
func (cl *connLimits) listener(l net.Listener, plain bool) net.Listener {
	if cl.perIP <= 0 {
		return l
	}
	return &limitListener{Listener: l, limits: cl, plain: plain}
}

type limitListener struct {
	net.Listener
	limits *connLimits
	plain  bool
}

// Accept returns the next connection within its peer's limit; those over
// it are answered and closed here.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cc := &countedConn{Conn: c}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil || l.limits.trusted.trusts(ap.Addr()) {
			return cc, nil
		}
		key := peerlimit.KeyOf(ap.Addr())
		if !l.limits.conns.Acquire(key) {
			l.refuse(c)
			continue
		}
		cc.counter, cc.key = l.limits.conns, key
		return cc, nil
	}
}

func (l *limitListener) refuse(c net.Conn) {
	if l.plain {
		c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
		c.Write(connRefusal)
	}
	c.Close()
	l.limits.refused(session.RefusedPerIP)
	if ok, suppressed := l.limits.connLog.Allow(time.Now()); ok {
		l.limits.log.Warn("refused connection", "remote", c.RemoteAddr().String(),
			"reason", "too many connections from this address", "max_conns_per_ip", l.limits.perIP, "suppressed", suppressed)
	}
}

// countedConn is an accepted connection: it gives back its peer's count
// when closed, and holds its session's count (if its request is an
// upgrade) until the request is done or, once hijacked, until the session
// closes the connection.
type countedConn struct {
	net.Conn
	counter *peerlimit.Counter // nil: not counted
	key     netip.Addr

	mu      sync.Mutex
	closed  bool
	session func() // gives back the session's count
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.mu.Unlock()
	if first {
		c.releaseSession()
		if c.counter != nil {
			c.counter.Release(c.key)
		}
	}
	return err
}

// SyscallConn and ReadFrom pass on what the connection under offers: the
// sessions' non-blocking write path needs its descriptor, and static files
// their sendfile.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("connection has no descriptor")
	}
	return sc.SyscallConn()
}

func (c *countedConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// holdSession keeps release until releaseSession or Close; on a closed
// connection it runs release at once.
func (c *countedConn) holdSession(release func()) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		release()
		return
	}
	prev := c.session
	c.session = release
	c.mu.Unlock()
	if prev != nil {
		prev()
	}
}

func (c *countedConn) releaseSession() {
	c.mu.Lock()
	release := c.session
	c.session = nil
	c.mu.Unlock()
	if release != nil {
		release()
	}
}

// countedConnOf finds the countedConn under c (under TLS, if any).
func countedConnOf(c net.Conn) *countedConn {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	cc, _ := c.(*countedConn)
	return cc
}

type connKey struct{}

// connContext and connState are the http.Server hooks that let the session
// limit find a request's connection, and know when a request that was not
// hijacked is over (the connection goes idle, or is closed).
func (cl *connLimits) connContext(ctx context.Context, c net.Conn) context.Context {
	if cc := countedConnOf(c); cc != nil {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

func (cl *connLimits) connState(c net.Conn, st http.ConnState) {
	if st == http.StateIdle {
		if cc := countedConnOf(c); cc != nil {
			cc.releaseSession()
		}
	}
}

// limitSessions refuses an upgrade from a client address (the resolved
// one: put it behind the trusted-proxy check) that has --max-conns-per-ip
// sessions already, or that opens them faster than --conn-rate, with 429
// before anything else is done for it.
func (cl *connLimits) limitSessions(next http.Handler) http.Handler {
	if cl.perIP <= 0 && !cl.rate.Limited() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := peerlimit.Key(r.RemoteAddr)
		if !ok || !bridge.IsUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		if !cl.takeStart(w, r, key) {
			return
		}
		cc, _ := r.Context().Value(connKey{}).(*countedConn)
		if cl.perIP > 0 && cc != nil {
			if !cl.sessions.Acquire(key) {
				cl.refuse(w, r, &cl.sessLog, session.RefusedPerIP, limitRetryAfter,
					"too many sessions from this address", "max_conns_per_ip", cl.perIP,
					"429 Too Many Requests: too many sessions from address "+strconv.Quote(key.String()))
				return
			}
			cc.holdSession(func() { cl.sessions.Release(key) })
		}
		next.ServeHTTP(w, r)
	})
}

// takeStart takes one of key's --conn-rate tokens, or answers 429 with the
// wait until the next one.
func (cl *connLimits) takeStart(w http.ResponseWriter, r *http.Request, key netip.Addr) bool {
	now := time.Now()
	ok, wait, err := cl.starts.Take(key, now)
	if err != nil {
		if log, suppressed := cl.fullLog.Allow(now); log {
			cl.log.Warn("--conn-rate: more client addresses than the table holds within one period; the new ones go unlimited",
				"clients", ratelimit.DefaultMaxClients, "conn_rate", cl.rate.String(), "suppressed", suppressed)
		}
	}
	if ok {
		return true
	}
	cl.refuse(w, r, &cl.rateLog, session.RefusedConnRate, ratelimit.RetryAfter(wait),
		"sessions opened too fast from this address", "conn_rate", cl.rate.String(),
		"429 Too Many Requests: sessions opened too fast from address "+strconv.Quote(key.String()))
	return false
}

// refuse answers 429 with Retry-After, counts the refusal by reason and
// logs it through sampler.
func (cl *connLimits) refuse(w http.ResponseWriter, r *http.Request, sampler *peerlimit.Sampler, reason, retryAfter, why, limitName string, limit any, body string) {
	cl.refused(reason)
	if ok, suppressed := sampler.Allow(time.Now()); ok {
		cl.log.Warn("refused", "remote", r.RemoteAddr, "path", r.URL.Path,
			"reason", why, limitName, limit, "retry_after", retryAfter, "suppressed", suppressed)
	}
	w.Header().Set("Retry-After", retryAfter)
	http.Error(w, body, http.StatusTooManyRequests)
}
