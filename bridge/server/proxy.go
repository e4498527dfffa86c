package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/auth"
)

// TrustedProxies is --trusted-proxy: the peers whose forwarding header is
// believed. From one of them, the one header --trusted-proxy-header names
// gives the client's address for REMOTE_ADDR and the logs, and its
// protocol sets HTTPS=on. Every other forwarding header is ignored, since
// a proxy that sets one header passes the others on as the client sent
// them. From anyone else no header changes anything (the child still sees
// them as HTTP_* variables, like any header).
type TrustedProxies []netip.Prefix

// The headers --trusted-proxy-header may name.
const (
	// ProxyHeaderXForwardedFor: the rightmost address of X-Forwarded-For
	// that is not a trusted proxy (the one the nearest proxy appended);
	// HTTPS from the last X-Forwarded-Proto value.
	ProxyHeaderXForwardedFor = "x-forwarded-for"
	// ProxyHeaderXRealIP: the one address of X-Real-IP (the last, if
	// repeated); HTTPS from the last X-Forwarded-Proto value.
	ProxyHeaderXRealIP = "x-real-ip"
	// ProxyHeaderForwarded: RFC 7239 Forwarded, walked as X-Forwarded-For
	// is; HTTPS from the proto= of the element naming the client.
	ProxyHeaderForwarded = "forwarded"
)

// ParseTrustedProxies reads CIDRs; a bare address means just that address.
// Errors name --trusted-proxy.
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	var out TrustedProxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy=%q: not a CIDR (10.0.0.0/8) or address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (t TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hop is one address a forwarding header names.
type hop struct {
	addr  netip.Addr
	port  string
	proto string // Forwarded's proto= of this hop
}

// wrap puts the proxy check in front of next, reading header (one of the
// ProxyHeader constants). With no trusted proxy it is next itself.
func (t TrustedProxies) wrap(header string, next http.Handler) http.Handler {
	if len(t) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !t.trusts(peer.Addr()) {
			next.ServeHTTP(w, r)
			return
		}
		// For --auth-header, which believes only a trusted peer: the
		// address below becomes the client's.
		r = auth.FromTrustedProxy(r)
		var env []string
		client, https, ok := t.client(header, r.Header)
		if ok {
			env = append(env, "REMOTE_ADDR="+client.addr.String(), "REMOTE_PORT="+client.port)
		}
		if https {
			env = append(env, "HTTPS=on")
		}
		if len(env) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		r = bridge.WithEnv(r, env...) // a copy of r: the caller's stays as it was
		if ok {
			// For the access log, the per-address limits, and REMOTE_HOST
			// (--reverselookup).
			r.RemoteAddr = client.addr.String()
			if client.port != "" {
				r.RemoteAddr = net.JoinHostPort(client.addr.String(), client.port)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// client finds the original client in header, of a request from a trusted
// proxy, and whether it came over HTTPS. In a chain (X-Forwarded-For,
// Forwarded), walking from the nearest hop back, it is the first address
// that is not itself a trusted proxy: every proxy appends the address it
// saw, so what is left of that is the client's to forge. An entry that is
// not an address ("unknown", an obfuscated name, garbage) ends the walk
// with no client.
func (t TrustedProxies) client(header string, h http.Header) (client hop, https bool, ok bool) {
	var hops []hop
	switch header {
	case ProxyHeaderForwarded:
		hops = forwardedHops(h.Values("Forwarded"))
	case ProxyHeaderXRealIP:
		if v := h.Values("X-Real-Ip"); len(v) > 0 {
			a, port, valid := parseNode(strings.TrimSpace(v[len(v)-1]))
			if valid {
				hops = []hop{{addr: a, port: port}}
			}
		}
	default:
		for _, v := range h.Values("X-Forwarded-For") {
			for _, s := range strings.Split(v, ",") {
				a, port, _ := parseNode(strings.TrimSpace(s))
				hops = append(hops, hop{addr: a, port: port})
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !hops[i].addr.IsValid() {
			client, ok = hop{}, false
			break
		}
		client, ok = hops[i], true
		if !t.trusts(hops[i].addr) {
			break
		}
	}
	if header == ProxyHeaderForwarded {
		return client, ok && isHTTPS(client.proto), ok
	}
	// X-Forwarded-Proto says how the client reached the nearest proxy,
	// whether or not an address came with it: its last value is the one
	// that proxy set or appended.
	if v := h.Values("X-Forwarded-Proto"); len(v) > 0 {
		parts := strings.Split(v[len(v)-1], ",")
		https = isHTTPS(strings.TrimSpace(parts[len(parts)-1]))
	}
	return client, https, ok
}

func isHTTPS(proto string) bool {
	return strings.EqualFold(proto, "https") || strings.EqualFold(proto, "wss")
}

// forwardedHops reads RFC 7239 Forwarded headers: comma-separated elements,
// each of semicolon-separated name=value pairs. An element without a for=
// pair, or whose for= is not an address, is a hop of unknown address.
func forwardedHops(values []string) (hops []hop) {
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			var h hop
			for _, pair := range strings.Split(elem, ";") {
				name, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				val = strings.Trim(strings.TrimSpace(val), `"`)
				switch strings.ToLower(strings.TrimSpace(name)) {
				case "for":
					if a, port, valid := parseNode(val); valid {
						h.addr, h.port = a, port
					}
				case "proto":
					h.proto = val
				}
			}
			hops = append(hops, h)
		}
	}
	return hops
}

// parseNode reads "192.0.2.1", "192.0.2.1:4711", "2001:db8::1" or
// "[2001:db8::1]:4711".
func parseNode(s string) (netip.Addr, string, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), fmt.Sprint(ap.Port()), true
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap(), "", true
	}
	return netip.Addr{}, "", false
}
