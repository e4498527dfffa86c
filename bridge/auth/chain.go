package auth

import (
	"log/slog"
	"net/http"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/internal/peerlimit"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// Chain admits a request that any one of its methods admits: the
// --auth-header of a trusted proxy, a valid JWT, or Basic credentials (or
// Basic's upgrade cookie), tried in that order. Credentials that fail do
// not stop another method from admitting, so a browser with a stale token
// cookie may still log in with a password. A request that no method admits
// gets 401 with a challenge for each method that has one, and the log says
// why the credentials it presented failed. Client certificates (--sslca)
// are no method here: the TLS handshake demands them of every request
// before this.
//
// Whichever method admits, the request goes on without the secrets of
// every method (Authorization, the token query parameter, the token
// cookies), carrying REMOTE_USER and AUTH_TYPE, and for a JWT JWT_CLAIMS
// and the token's expiry as the session's deadline (bridge.WithDeadline).
type Chain struct {
	Proxy *ProxyHeader // --auth-header; nil without
	JWT   *JWT         // --jwt-key, --jwks-url; nil without
	Basic *Basic       // --credential, --credential-file; nil without
	// Realm names the protected space in the challenges; "": wsbridge.
	Realm string
	Log   *slog.Logger
	// OnRefuse, if set, is told of each refusal: the method whose
	// credentials failed (proxy, jwt, basic; "" when none were presented)
	// and a short reason (metrics).
	OnRefuse func(method, reason string)
}

// refusal is why a request was not admitted.
type refusal struct {
	method, reason string
	attrs          []any // for the log: "reason", text, ...
}

// Middleware puts the chain in front of next.
func (c *Chain) Middleware(next http.Handler) http.Handler {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	realm := c.Realm
	if realm == "" {
		realm = "wsbridge"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ref *refusal
		if c.Proxy != nil {
			var user, why string
			r, user, why = c.Proxy.identify(r)
			if user != "" {
				next.ServeHTTP(w, bridge.WithEnv(c.strip(r), "REMOTE_USER="+user, "AUTH_TYPE=proxy"))
				return
			}
			ref = &refusal{method: "proxy", reason: "no_user", attrs: []any{"reason", why}}
		}
		var jwtFail *jwtFailure
		if c.JWT != nil {
			jwtFail = errNoToken
			if tok := c.JWT.presented(r); tok != "" {
				id, err := c.JWT.verify(r.Context(), tok)
				if err == nil {
					r = bridge.WithEnv(c.strip(r), "REMOTE_USER="+id.user, "AUTH_TYPE=Bearer", "JWT_CLAIMS="+string(id.claims))
					next.ServeHTTP(w, bridge.WithDeadline(r, id.exp))
					return
				}
				jwtFail = classify(err)
				// The reason, never the token.
				ref = &refusal{method: "jwt", reason: jwtFail.Reason, attrs: []any{"reason", jwtFail.Text}}
			}
		}
		if c.Basic != nil {
			client, _ := peerlimit.Key(r.RemoteAddr) // the zero Addr for unix sockets: one client
			if wait, blocked := c.Basic.throttled(client); blocked {
				if c.OnRefuse != nil {
					c.OnRefuse("basic", "throttled")
				}
				c.Basic.refuseThrottled(w, r, wait)
				return
			}
			user, presented, why := c.Basic.authenticate(r, client)
			if user != "" {
				r = c.Basic.admit(w, r, user)
				next.ServeHTTP(w, c.strip(r))
				return
			}
			if presented && (ref == nil || ref.method == "proxy") {
				ref = &refusal{method: "basic", reason: "bad_credentials", attrs: why}
			}
		}
		if ref == nil || (ref.method == "proxy" && (c.JWT != nil || c.Basic != nil)) {
			// Nothing presented; or no proxy identity where other methods
			// were there to be used.
			ref = &refusal{reason: "missing", attrs: []any{"reason", "no credentials"}}
		}
		if c.OnRefuse != nil {
			c.OnRefuse(ref.method, ref.reason)
		}
		log.Log(r.Context(), session.LevelAccess, "refused", append([]any{"remote", r.RemoteAddr, "path", r.URL.Path, "method", ref.method}, ref.attrs...)...)
		if c.Basic != nil {
			w.Header().Add("WWW-Authenticate", c.Basic.challenge())
		}
		if c.JWT != nil {
			w.Header().Add("WWW-Authenticate", c.JWT.challenge(realm, jwtFail))
		}
		msg := "401 Unauthorized: credentials required"
		if ref.method == "jwt" {
			msg = "401 Unauthorized: " + jwtFail.Text
		}
		http.Error(w, msg, http.StatusUnauthorized)
	})
}

// strip removes every method's secrets from r: whichever admitted it, the
// program sees none of the others'.
func (c *Chain) strip(r *http.Request) *http.Request {
	if c.JWT != nil {
		r = c.JWT.strip(r)
	}
	if c.Basic != nil {
		r = stripSecrets(r)
	}
	return r
}
