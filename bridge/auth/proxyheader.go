package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
)

// ProxyHeader is --auth-header: the user is the value of one request
// header, set by an authenticating proxy in front (oauth2-proxy, Authelia,
// nginx auth_request). Only a --trusted-proxy peer is believed; from
// anyone else the header is removed, so that not even the program's
// HTTP_* variables carry a forged one.
type ProxyHeader struct {
	// Header names the header (X-Forwarded-User, X-Auth-Request-User...).
	Header string
}

type trustedPeerKey struct{}

// FromTrustedProxy returns r marked as coming from a --trusted-proxy
// peer. The server marks it where it resolves the client's address, which
// replaces the peer's in RemoteAddr.
func FromTrustedProxy(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), trustedPeerKey{}, true))
}

// IsFromTrustedProxy reports whether FromTrustedProxy marked r.
func IsFromTrustedProxy(r *http.Request) bool {
	ok, _ := r.Context().Value(trustedPeerKey{}).(bool)
	return ok
}

// identify returns the user the header names, or why there is none; r
// comes back without the header when its peer is not trusted.
func (p *ProxyHeader) identify(r *http.Request) (_ *http.Request, user string, why string) {
	values := r.Header.Values(p.Header)
	if !IsFromTrustedProxy(r) {
		if len(values) == 0 {
			return r, "", "no " + p.Header + " header (and not from a --trusted-proxy)"
		}
		r = r.Clone(r.Context())
		r.Header.Del(p.Header)
		return r, "", p.Header + " ignored: not from a --trusted-proxy"
	}
	switch len(values) {
	case 0:
		return r, "", "no " + p.Header + " header from the trusted proxy"
	case 1:
	default:
		return r, "", p.Header + " given more than once"
	}
	user = bridge.CleanHeaderValue(strings.TrimSpace(values[0]))
	if user == "" {
		return r, "", "empty " + p.Header + " header from the trusted proxy"
	}
	return r, user, ""
}
