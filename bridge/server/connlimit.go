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
// Each refusal is logged, a line a second at most, with the count of those
// left out.

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
	trusted  TrustedProxies
	log      *slog.Logger
	connLog  peerlimit.Sampler
	sessLog  peerlimit.Sampler
}

func newConnLimits(perIP int, trusted TrustedProxies, log *slog.Logger) *connLimits {
	return &connLimits{
		perIP: perIP, trusted: trusted, log: log,
		conns:    peerlimit.NewCounter(perIP),
		sessions: peerlimit.NewCounter(perIP),
		connLog:  peerlimit.Sampler{Every: refuseLogEvery},
		sessLog:  peerlimit.Sampler{Every: refuseLogEvery},
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
// sessions already, with 429 before anything else is done for it.
func (cl *connLimits) limitSessions(next http.Handler) http.Handler {
	if cl.perIP <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc, _ := r.Context().Value(connKey{}).(*countedConn)
		key, ok := peerlimit.Key(r.RemoteAddr)
		if cc == nil || !ok || !bridge.IsUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		if !cl.sessions.Acquire(key) {
			if ok, suppressed := cl.sessLog.Allow(time.Now()); ok {
				cl.log.Warn("refused", "remote", r.RemoteAddr, "path", r.URL.Path,
					"reason", "too many sessions from this address", "max_conns_per_ip", cl.perIP, "suppressed", suppressed)
			}
			w.Header().Set("Retry-After", limitRetryAfter)
			http.Error(w, "429 Too Many Requests: too many sessions from address "+strconv.Quote(key.String()), http.StatusTooManyRequests)
			return
		}
		cc.holdSession(func() { cl.sessions.Release(key) })
		next.ServeHTTP(w, r)
	})
}
