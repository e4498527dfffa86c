package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// DNS rebinding: a page of http://rebind.attacker.example:PORT/ has its
// name answered first with the attacker's address, then with 127.0.0.1 (or
// a LAN address); the browser, seeing one origin throughout, lets the page
// talk to wsbridge as if it were its own server, Origin and Host both saying
// rebind.attacker.example. Only the Host header gives it away: the name is
// not one this server goes by. As webpack-dev-server's allowedHosts and
// Vite's server.allowedHosts do, every request must name an IP address,
// localhost, this machine's host name, a name of --allowed-host or one of
// the TLS certificate's names; anything else is refused before any other
// handler sees it.

// AllowedHosts is --allowed-host: names a request's Host may give beside the
// ones always allowed. The zero value allows only those.
type AllowedHosts struct {
	// Any is "*": every Host is accepted (the check is off).
	Any bool
	// names are exact names; subdomains are ".example.com" (the name and
	// every subdomain) or "*.example.com" (every subdomain only), stored
	// without the "*" and with the leading dot.
	names      map[string]bool
	subdomains []hostSuffix
}

// hostSuffix is one subdomain item of --allowed-host.
type hostSuffix struct {
	suffix string // ".example.com"
	apex   bool   // example.com itself too
}

// ParseAllowedHosts reads --allowed-host items, each possibly
// comma-separated: a host name, ".example.com", "*.example.com" or "*".
// Errors name the flag.
func ParseAllowedHosts(items []string) (*AllowedHosts, error) {
	a := &AllowedHosts{names: map[string]bool{}}
	for _, item := range items {
		for _, given := range strings.Split(item, ",") {
			name := strings.ToLower(strings.TrimSpace(given))
			switch {
			case name == "":
				continue
			case name == "*":
				a.Any = true
				continue
			}
			apex := true
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				name, apex = "."+rest, false
			}
			name = strings.TrimSuffix(name, ".") // the root: example.com. is example.com
			if !validHostName(strings.TrimPrefix(name, ".")) {
				return nil, fmt.Errorf("--allowed-host=%q: want a host name without scheme or port (ws.example.com), .example.com or *.example.com for subdomains, or * for any", strings.TrimSpace(given))
			}
			if strings.HasPrefix(name, ".") {
				a.subdomains = append(a.subdomains, hostSuffix{name, apex})
				continue
			}
			a.names[name] = true
		}
	}
	return a, nil
}

// validHostName reports whether s is a DNS name (letters, digits, '-', '_'
// in dot-separated labels) or an IP address.
func validHostName(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// allows reports whether --allowed-host lists host (lower case, no port,
// no trailing dot).
func (a *AllowedHosts) allows(host string) bool {
	if a == nil {
		return false
	}
	if a.Any || a.names[host] {
		return true
	}
	for _, s := range a.subdomains {
		if strings.HasSuffix(host, s.suffix) || (s.apex && host == s.suffix[1:]) {
			return true
		}
	}
	return false
}

// hostGuard refuses, before anything else answers, a request whose Host
// this server does not go by.
type hostGuard struct {
	allowed  *AllowedHosts
	hostname string                  // this machine's name, lower case
	cert     func() *tls.Certificate // the current TLS certificate; nil without --ssl
	log      *slog.Logger
	onRefuse func()
}

// newHostGuard builds the check; certs is nil without --ssl.
func newHostGuard(allowed *AllowedHosts, certs *certReloader, log *slog.Logger, onRefuse func()) *hostGuard {
	g := &hostGuard{allowed: allowed, log: log, onRefuse: onRefuse}
	if name, err := os.Hostname(); err == nil {
		g.hostname = strings.TrimSuffix(strings.ToLower(name), ".")
	}
	if certs != nil {
		g.cert = certs.cert.Load // SIGHUP may bring other names
	}
	return g
}

// off reports whether --allowed-host=* turned the check off.
func (g *hostGuard) off() bool { return g.allowed != nil && g.allowed.Any }

// allows reports whether a request with this Host header may go on. An
// empty Host (HTTP/1.0 without one) is let through: browsers always send
// one, so no page can make such a request.
func (g *hostGuard) allows(hostHeader string) bool {
	host := requestHostName(hostHeader)
	switch {
	case host == "", host == "localhost", strings.HasSuffix(host, ".localhost"), host == g.hostname:
		return true
	case g.allowed.allows(host):
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true // nobody can rebind an address
	}
	return g.certAllows(host)
}

// certAllows reports whether the current certificate names host, by the
// rules a browser checks it with (x509's: exactly, or by a wildcard
// covering one label).
func (g *hostGuard) certAllows(host string) bool {
	if g.cert == nil {
		return false
	}
	c := g.cert()
	return c != nil && c.Leaf != nil && c.Leaf.VerifyHostname(host) == nil
}

// requestHostName is the Host header's name, lower case, without the port,
// the brackets of an IPv6 address or a trailing dot.
func requestHostName(hostHeader string) string {
	host := hostHeader
	if h, _, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return strings.ToLower(host)
}

// wrap puts the check in front of next; with --allowed-host=* it is next
// itself.
func (g *hostGuard) wrap(next http.Handler) http.Handler {
	if g.off() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.allows(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if len(host) > 256 {
			host = host[:256] + "..."
		}
		g.log.Log(r.Context(), session.LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "host",
			"host", host, "err", "Host is not an address, localhost, this machine's name, an --allowed-host or a name of the certificate (DNS rebinding?)")
		if g.onRefuse != nil {
			g.onRefuse()
		}
		http.Error(w, "403 Forbidden: this server does not answer to that host name; its operator can allow it with --allowed-host", http.StatusForbidden)
	})
}
