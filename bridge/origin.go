package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// OriginPolicy decides which browser pages may open a WebSocket, with
// websocketd's rules for --origin and --sameorigin. The zero value allows
// every origin.
type OriginPolicy struct {
	allowed    []originEntry
	sameOrigin bool
	// allowMissing lets a request without an Origin header through: it
	// comes from a program, not a page (OwnOriginPolicy).
	allowMissing bool
	// sameScheme: with sameOrigin, the Origin's scheme must be this
	// server's too (OwnOriginPolicy; websocketd's --sameorigin does not
	// look at it).
	sameScheme bool
	// OnRefuse, if set, is called for each refused upgrade (metrics).
	OnRefuse func()
}

// originEntry is one --origin item: a host, optionally a scheme and a port.
type originEntry struct {
	scheme string // "" matches http and https
	host   string // lower case, IPv6 without brackets
	port   string // "" matches any port
}

// NewOriginPolicy parses the --origin list ("host[:port]" or
// "scheme://host[:port]", each possibly comma-separated) and --sameorigin.
func NewOriginPolicy(origins []string, sameOrigin bool) (*OriginPolicy, error) {
	p := &OriginPolicy{sameOrigin: sameOrigin}
	for _, item := range origins {
		for _, o := range strings.Split(item, ",") {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			e, err := parseOriginEntry(o)
			if err != nil {
				return nil, fmt.Errorf("--origin=%q: %w", o, err)
			}
			p.allowed = append(p.allowed, e)
		}
	}
	return p, nil
}

func parseOriginEntry(s string) (originEntry, error) {
	var e originEntry
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		e.scheme = strings.ToLower(scheme)
		if e.scheme != "http" && e.scheme != "https" {
			return e, errors.New("scheme must be http or https")
		}
		s = strings.TrimSuffix(rest, "/")
	}
	if s == "" || strings.ContainsAny(s, "/?#@ ") {
		return e, errors.New("want host[:port], optionally with http:// or https://")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), ""
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return e, err
		}
	} else if port == "" {
		return e, errors.New("empty port")
	}
	e.host, e.port = strings.ToLower(host), port
	return e, nil
}

// Active reports whether the policy refuses anything at all.
func (p *OriginPolicy) Active() bool {
	return p != nil && (p.sameOrigin || len(p.allowed) > 0)
}

// Check returns nil when r's Origin is allowed. A missing or "null" Origin
// is refused by an active policy, as websocketd does: it cannot be matched
// against anything.
func (p *OriginPolicy) Check(r *http.Request) error {
	if !p.Active() {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" && p.allowMissing && len(r.Header.Values("Origin")) == 0 {
		return nil
	}
	if origin == "" || origin == "null" {
		return errors.New("no usable Origin header")
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("malformed Origin %q", origin)
	}
	scheme := strings.ToLower(u.Scheme)
	host, port := hostPort(u.Host, scheme == "https" || scheme == "wss")
	if p.sameOrigin {
		serverTLS := r.TLS != nil || forwardedHTTPS(r)
		localHost, localPort := hostPort(r.Host, serverTLS)
		if host != localHost || port != localPort {
			return fmt.Errorf("Origin %q is not the same origin as host %q", origin, r.Host)
		}
		if p.sameScheme && (scheme == "https" || scheme == "wss") != serverTLS {
			return fmt.Errorf("Origin %q is not of this server's scheme (https: %t)", origin, serverTLS)
		}
	}
	if len(p.allowed) > 0 && !p.match(scheme, host, port) {
		return fmt.Errorf("Origin %q is not in the --origin list", origin)
	}
	return nil
}

// forwardedHTTPS reports whether a trusted proxy said the client came over
// HTTPS (--trusted-proxy sets HTTPS=on): TLS ends at the proxy, so the
// page's origin has port 443 while the request itself is plain.
func forwardedHTTPS(r *http.Request) bool {
	return slices.Contains(extraEnv(r), "HTTPS=on")
}

func (p *OriginPolicy) match(scheme, host, port string) bool {
	for _, e := range p.allowed {
		switch {
		case e.scheme == "" && scheme != "http" && scheme != "https":
		case e.scheme != "" && e.scheme != scheme:
		case e.host != host:
		case e.port != "" && e.port != port:
		default:
			return true
		}
	}
	return false
}

// hostPort splits a Host header or an Origin's host into a lower-case name
// and a port, the scheme's default when there is none.
func hostPort(hostport string, tls bool) (string, string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
		port = "80"
		if tls {
			port = "443"
		}
	}
	return strings.ToLower(host), port
}

// Middleware refuses, with 403 and before anything else happens, a
// WebSocket upgrade whose Origin the policy does not allow. Plain HTTP
// requests pass: like websocketd, the policy guards WebSocket endpoints.
func (p *OriginPolicy) Middleware(log *slog.Logger) func(http.Handler) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		if !p.Active() {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if IsUpgrade(r) {
				if err := p.Check(r); err != nil {
					log.Log(r.Context(), session.LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "origin", "err", err)
					if p.OnRefuse != nil {
						p.OnRefuse()
					}
					http.Error(w, "403 Forbidden: this page's origin may not connect (--origin, --sameorigin)", http.StatusForbidden)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// OwnOriginPolicy is the default without --origin or --sameorigin for
// terminal endpoints (--terminal) and wherever credentials are required
// (--credential, --credential-file, --sslca): a page may connect only from
// this server's own origin, scheme, host and port as the server sees them
// (https behind a trusted proxy that says so), so another site's
// JavaScript can neither drive a shell in a visitor's browser nor ride the
// credentials the browser sends by itself (cross-site WebSocket hijacking).
// A request without an Origin header passes: browsers always send one on a
// WebSocket upgrade, so it comes from a program (a CLI client, a test),
// which no page can make. A "null" Origin (sandboxed frames, file: pages)
// is refused.
func OwnOriginPolicy() *OriginPolicy {
	return &OriginPolicy{sameOrigin: true, allowMissing: true, sameScheme: true}
}
