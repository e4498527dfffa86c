package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// AccessTokenParam is the query parameter that carries an access token.
const AccessTokenParam = "token"

// AccessCookiePrefix starts the name of the cookie that carries an access
// token once a page was opened with it. The rest of the name is derived from
// the token, so two servers on one host (cookies ignore the port) do not
// overwrite each other's cookie.
const AccessCookiePrefix = "wsbridge_access_"

// AccessToken is a random secret, made at startup, that every request must
// carry: the guard of a writable terminal reachable from the network
// without other authentication, as Jupyter and code-server do it. A browser
// opens the page with ?token=...; the answer sets a cookie and redirects to
// the same URL without the token, and the page's own WebSocket, and every
// later request, carries the cookie. Programs may put ?token= on the
// upgrade itself.
type AccessToken struct {
	// OnRefuse, if set, is called for each request refused (metrics).
	OnRefuse func()

	token  string
	sum    [32]byte // sha256 of token, compared in constant time
	watch  string   // the read-only link's token (WatchToken)
	wsum   [32]byte // sha256 of watch
	cookie string
	log    *slog.Logger
}

// NewAccessToken makes a new random token; logger gets the refusals.
func NewAccessToken(logger *slog.Logger) *AccessToken {
	return NewAccessTokenOf(rand.Text(), logger) // 128 bits, base32: safe in a URL as it is
}

// NewAccessTokenOf guards with the token given (--token-file), which
// CheckAccessToken accepted; logger gets the refusals.
func NewAccessTokenOf(tok string, logger *slog.Logger) *AccessToken {
	if logger == nil {
		logger = slog.Default()
	}
	sum := sha256.Sum256([]byte(tok))
	watch := watchToken(tok)
	return &AccessToken{token: tok, sum: sum, watch: watch, wsum: sha256.Sum256([]byte(watch)),
		cookie: AccessCookiePrefix + hex.EncodeToString(sum[:4]), log: logger}
}

// watchToken derives the read-only link's token from the access token: an
// HMAC, so it reveals nothing of the token that types, and a token of
// --token-file gives the same read-only link on every start.
func watchToken(tok string) string {
	m := hmac.New(sha256.New, []byte(tok))
	m.Write([]byte("wsbridge read-only link"))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil)[:16]))
}

// WatchToken is the token of the read-only link: a page opened with it
// shows the terminal but its keys never reach the program.
func (a *AccessToken) WatchToken() string { return a.watch }

// MinAccessTokenLen is the shortest token --token-file may hold: 128 bits
// in base32 (what NewAccessToken makes) take 26 characters, and 16
// characters of the allowed set still carry more than 90 bits.
const MinAccessTokenLen = 16

// CheckAccessToken says why tok cannot be an access token, or nil: it must
// be MinAccessTokenLen characters or more of letters, digits and "-._~",
// which go in a URL and a cookie as they are.
func CheckAccessToken(tok string) error {
	if len(tok) < MinAccessTokenLen {
		return fmt.Errorf("%d characters: want at least %d", len(tok), MinAccessTokenLen)
	}
	for _, c := range []byte(tok) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return errors.New("want only letters, digits and - . _ ~") // not which: it is a secret
		}
	}
	return nil
}

// Token is the secret, for the URL printed at startup.
func (a *AccessToken) Token() string { return a.token }

// CookieName is the name of the cookie that carries the token.
func (a *AccessToken) CookieName() string { return a.cookie }

// matches compares a presented token with the secret in constant time: both
// are hashed first, so neither the length nor any prefix of the secret shows
// in the time taken.
func (a *AccessToken) matches(presented string) (ok, watcher bool) {
	sum := sha256.Sum256([]byte(presented))
	writer := subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1
	watcher = subtle.ConstantTimeCompare(sum[:], a.wsum[:]) == 1
	return writer || watcher, watcher
}

// Middleware refuses, with 403 and a message saying what is missing, every
// request that carries neither the token (?token=) nor its cookie. A plain
// GET or HEAD with the right ?token= gets the cookie and a redirect to the
// same URL without the token, so the secret does not stay in the address
// bar, the history or a Referer. An admitted request goes on without the
// token and without the cookie: the child never sees either (QUERY_STRING,
// REQUEST_URI, HTTP_COOKIE).
func (a *AccessToken) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented, inQuery := queryToken(r.URL.RawQuery)
		if !inQuery {
			if c, err := r.Cookie(a.cookie); err == nil {
				presented = c.Value
			}
		}
		ok, watcher := a.matches(presented)
		if presented == "" || !ok {
			a.refuse(w, r, presented == "")
			return
		}
		if inQuery && !bridge.IsUpgrade(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.SetCookie(w, &http.Cookie{
				Name:     a.cookie,
				Value:    presented,
				Path:     "/",
				HttpOnly: true,
				Secure:   r.TLS != nil,
				// Lax: sent when a link from elsewhere opens the page, never
				// on another site's requests (the origin check stops those
				// WebSockets too).
				SameSite: http.SameSiteLaxMode,
			})
			// Relative, not through http.Redirect, which would make it
			// absolute and so wrong behind a proxy's path prefix.
			w.Header().Set("Location", withoutTokenRef(r.URL))
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		r = a.strip(r)
		if watcher {
			r = session.WithReadOnly(r)
		}
		next.ServeHTTP(w, r)
	})
}

func (a *AccessToken) refuse(w http.ResponseWriter, r *http.Request, missing bool) {
	if a.OnRefuse != nil {
		a.OnRefuse()
	}
	why := "wrong token"
	if missing {
		why = "no token"
	}
	a.log.Log(r.Context(), session.LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "token", "err", why)
	http.Error(w, "403 Forbidden: "+why+". This terminal needs the access token wsbridge printed at startup: "+
		"open the URL it gave, which ends in ?"+AccessTokenParam+"=...", http.StatusForbidden)
}

// queryToken finds the token parameter in a raw query; ok reports whether
// there is one, even empty.
func queryToken(rawQuery string) (tok string, ok bool) {
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if key, err := url.QueryUnescape(k); err != nil || key != AccessTokenParam {
			continue
		}
		v, err := url.QueryUnescape(v)
		if err != nil {
			return "", true
		}
		return v, true
	}
	return "", false
}

// withoutToken is rawQuery less every token parameter; the others are kept
// as they were written, in their order.
func withoutToken(rawQuery string) string {
	var kept []string
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(part, "=")
		if key, err := url.QueryUnescape(k); part == "" || (err == nil && key == AccessTokenParam) {
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(kept, "&")
}

// withoutTokenRef is a reference to u without the token, relative to u
// itself (its last path segment), so it also works behind a proxy that
// serves wsbridge under a path prefix.
func withoutTokenRef(u *url.URL) string {
	ref := "./"
	if !strings.HasSuffix(u.Path, "/") {
		ref = "./" + url.PathEscape(path.Base(u.Path))
	}
	if q := withoutToken(u.RawQuery); q != "" {
		ref += "?" + q
	}
	return ref
}

// strip returns r without the token parameter and without the cookie.
func (a *AccessToken) strip(r *http.Request) *http.Request {
	_, inQuery := queryToken(r.URL.RawQuery)
	if !inQuery && !hasCookie(r, a.cookie) {
		return r
	}
	r2 := r.Clone(r.Context())
	if inQuery {
		r2.URL.RawQuery = withoutToken(r.URL.RawQuery)
		r2.RequestURI = r2.URL.RequestURI()
	}
	withoutCookie(r2.Header, a.cookie)
	return r2
}
