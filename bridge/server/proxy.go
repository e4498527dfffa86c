package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
)

// TrustedProxies is --trusted-proxy: the peers whose forwarding headers are
// believed. From one of them, Forwarded (RFC 7239) or else X-Forwarded-For
// gives the client's address for REMOTE_ADDR and the logs, and a forwarded
// protocol of https sets HTTPS=on. From anyone else those headers change
// nothing (the child still sees them as HTTP_* variables, like any header).
type TrustedProxies []netip.Prefix

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

// wrap puts the proxy check in front of next. With no trusted proxy it is
// next itself.
func (t TrustedProxies) wrap(next http.Handler) http.Handler {
	if len(t) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !t.trusts(peer.Addr()) {
			next.ServeHTTP(w, r)
			return
		}
		var env []string
		client, proto, ok := t.client(r.Header)
		if ok {
			env = append(env, "REMOTE_ADDR="+client.addr.String(), "REMOTE_PORT="+client.port)
		}
		if strings.EqualFold(proto, "https") || strings.EqualFold(proto, "wss") {
			env = append(env, "HTTPS=on")
		}
		if len(env) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		r = bridge.WithEnv(r, env...) // a copy of r: the caller's stays as it was
		if ok {
			// For the access log, and for REMOTE_HOST (--reverselookup).
			r.RemoteAddr = client.addr.String()
			if client.port != "" {
				r.RemoteAddr = net.JoinHostPort(client.addr.String(), client.port)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// client finds the original client in the forwarding headers of a request
// from a trusted proxy: walking the chain from the nearest hop back, the
// first address that is not itself a trusted proxy. An entry that is not an
// address ("unknown", an obfuscated name, garbage) ends the walk there. The
// protocol is the chosen hop's proto= with Forwarded, else the last
// X-Forwarded-Proto value (the nearest proxy's).
func (t TrustedProxies) client(h http.Header) (client hop, proto string, ok bool) {
	hops, forwarded := forwardedHops(h.Values("Forwarded"))
	if !forwarded {
		for _, v := range h.Values("X-Forwarded-For") {
			for _, s := range strings.Split(v, ",") {
				a, port, valid := parseNode(strings.TrimSpace(s))
				if !valid {
					a = netip.Addr{}
				}
				hops = append(hops, hop{addr: a, port: port})
			}
		}
		if v := h.Values("X-Forwarded-Proto"); len(v) > 0 {
			parts := strings.Split(v[len(v)-1], ",")
			proto = strings.TrimSpace(parts[len(parts)-1])
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !hops[i].addr.IsValid() {
			break
		}
		client, ok = hops[i], true
		if !t.trusts(hops[i].addr) {
			break
		}
	}
	if forwarded && ok {
		proto = client.proto
	}
	return client, proto, ok
}

// forwardedHops reads RFC 7239 Forwarded headers: comma-separated elements,
// each of semicolon-separated name=value pairs. forwarded is false when no
// element has a for= pair.
func forwardedHops(values []string) (hops []hop, forwarded bool) {
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			var h hop
			hasFor := false
			for _, pair := range strings.Split(elem, ";") {
				name, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				val = strings.Trim(strings.TrimSpace(val), `"`)
				switch strings.ToLower(strings.TrimSpace(name)) {
				case "for":
					hasFor = true
					if a, port, valid := parseNode(val); valid {
						h.addr, h.port = a, port
					}
				case "proto":
					h.proto = val
				}
			}
			if hasFor {
				forwarded = true
				hops = append(hops, h)
			}
		}
	}
	return hops, forwarded
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
