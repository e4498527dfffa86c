// Package auth decides who may use the server: HTTP Basic credentials with
// the short-lived upgrade cookie browsers need, and the access token that
// guards a writable terminal reachable beyond loopback.
package auth

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/internal/peerlimit"
)

// TokenCookie is the cookie carrying a short-lived upgrade token. Browsers
// that do not send Basic credentials on a WebSocket upgrade (Safari) send
// cookies; a page served to an authenticated user carries one, so the page's
// own WebSocket gets in.
const TokenCookie = "wsbridge_token"

// TokenTTL is how long an upgrade token is good for after the page that
// carried it was served.
const TokenTTL = 5 * time.Minute

// bcryptCacheSize bounds the memory of verified bcrypt passwords; bcrypt is
// slow on purpose, and a browser repeats its credentials on every request.
// A verified password is remembered for TokenTTL.
const bcryptCacheSize = 1024

// throttleLogEvery spaces the log lines of throttled requests: each is a
// refusal and logged, but a flood of them as one line a second.
const throttleLogEvery = time.Second

// Basic is HTTP Basic authentication (--credential, --credential-file) as
// middleware in front of everything the server answers.
type Basic struct {
	// OnRefuse, if set, is called for each request refused for its
	// credentials (metrics).
	OnRefuse func()

	creds []credential
	realm string
	key   [32]byte // signs upgrade tokens; new at every start
	log   *slog.Logger
	now   func() time.Time
	dummy []byte // a bcrypt hash compared when the user is unknown
	mu    sync.Mutex
	// cached holds the bcrypt successes, keyed by an HMAC of user and
	// password under cacheKey (new at every start), so the table says
	// nothing about a password to whoever reads the daemon's memory.
	cached   map[[32]byte]time.Time
	cacheKey [32]byte
	// bcryptRuns counts bcrypt comparisons (tests).
	bcryptRuns atomic.Int64

	failures   *failureThrottle
	throttleLg peerlimit.Sampler
}

type credential struct {
	user   string
	userH  [32]byte
	passH  [32]byte // sha256 of a plain password
	bcrypt []byte   // or a bcrypt hash
}

// parseCredential reads "user:password" (or, when hashed is set,
// "user:bcrypt-hash" too: a secret starting with $2a$, $2b$ or $2y$).
// CheckCredential validates a --credential value ("user:password") as
// NewBasic would, so a CLI can refuse it with the same message.
func CheckCredential(s string) error {
	_, err := parseCredential(s, false)
	return err
}

func parseCredential(s string, hashed bool) (credential, error) {
	user, secret, ok := strings.Cut(s, ":")
	if !ok || user == "" {
		return credential{}, errors.New("want user:password")
	}
	c := credential{user: user, userH: sha256.Sum256([]byte(user))}
	if hashed && isBcrypt(secret) {
		if _, err := bcrypt.Cost([]byte(secret)); err != nil {
			return credential{}, fmt.Errorf("user %q: bad bcrypt hash: %w", user, err)
		}
		c.bcrypt = []byte(secret)
	} else {
		c.passH = sha256.Sum256([]byte(secret))
	}
	return c, nil
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// BasicOptions configure NewBasic.
type BasicOptions struct {
	// Credentials are "user:password" pairs (--credential).
	Credentials []string
	// Files hold one "user:password" or "user:bcrypt-hash" per line; blank
	// lines and lines starting with # are skipped (--credential-file).
	Files []string
	// Realm names the protected space in WWW-Authenticate.
	Realm  string
	Logger *slog.Logger
	// Now is the clock for token expiry; nil: time.Now.
	Now func() time.Time
}

// NewBasic checks and loads the credentials. Error messages name users and
// files, never passwords.
func NewBasic(opts BasicOptions) (*Basic, error) {
	a := &Basic{realm: opts.Realm, log: opts.Logger, now: time.Now, cached: map[[32]byte]time.Time{},
		failures: newFailureThrottle(), throttleLg: peerlimit.Sampler{Every: throttleLogEvery}}
	if a.realm == "" {
		a.realm = "wsbridge"
	}
	if opts.Now != nil {
		a.now = opts.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	for i, s := range opts.Credentials {
		c, err := parseCredential(s, false)
		if err != nil {
			return nil, fmt.Errorf("--credential #%d: %w", i+1, err)
		}
		a.creds = append(a.creds, c)
	}
	for _, name := range opts.Files {
		if err := a.loadFile(name); err != nil {
			return nil, err
		}
	}
	if len(a.creds) == 0 {
		if len(opts.Files) > 0 {
			return nil, fmt.Errorf("--credential-file %s: no USER:PASSWORD line found", strings.Join(opts.Files, ", "))
		}
		return nil, errors.New("no credentials given: use --credential or --credential-file")
	}
	for _, c := range a.creds {
		if c.bcrypt != nil {
			cost, _ := bcrypt.Cost(c.bcrypt)
			a.dummy, _ = bcrypt.GenerateFromPassword([]byte("wsbridge"), cost)
			break
		}
	}
	rand.Read(a.key[:])
	rand.Read(a.cacheKey[:])
	return a, nil
}

func (a *Basic) loadFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("--credential-file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, err := parseCredential(line, true)
		if err != nil {
			return fmt.Errorf("--credential-file %s line %d: %w", name, n, err)
		}
		a.creds = append(a.creds, c)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("--credential-file %s: %w", name, err)
	}
	return nil
}

// Verify reports whether user and password match a credential. Plain
// passwords are compared in constant time over every entry, so the time taken
// tells nothing about which user or how much of a password matched.
func (a *Basic) Verify(user, password string) bool {
	userH := sha256.Sum256([]byte(user))
	passH := sha256.Sum256([]byte(password))
	ok := 0
	var hashed []byte
	for i := range a.creds {
		c := &a.creds[i]
		userOK := subtle.ConstantTimeCompare(userH[:], c.userH[:])
		if c.bcrypt != nil {
			if userOK == 1 {
				hashed = c.bcrypt
			}
			continue
		}
		ok |= userOK & subtle.ConstantTimeCompare(passH[:], c.passH[:])
	}
	if ok == 1 {
		return true
	}
	if hashed == nil {
		if a.dummy != nil {
			// An unknown user costs what a known one does.
			a.bcryptRuns.Add(1)
			bcrypt.CompareHashAndPassword(a.dummy, []byte(password))
		}
		return false
	}
	return a.verifyBcrypt(hashed, user, password)
}

func (a *Basic) verifyBcrypt(hash []byte, user, password string) bool {
	m := hmac.New(sha256.New, a.cacheKey[:])
	m.Write([]byte(user + "\x00" + password + "\x00" + string(hash)))
	var key [32]byte
	m.Sum(key[:0])
	now := a.now()
	a.mu.Lock()
	exp, hit := a.cached[key]
	a.mu.Unlock()
	if hit && now.Before(exp) {
		return true
	}
	a.bcryptRuns.Add(1)
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	a.mu.Lock()
	if len(a.cached) >= bcryptCacheSize {
		for k, exp := range a.cached {
			if !now.Before(exp) {
				delete(a.cached, k)
			}
		}
		if len(a.cached) >= bcryptCacheSize {
			clear(a.cached)
		}
	}
	a.cached[key] = now.Add(TokenTTL)
	a.mu.Unlock()
	return true
}

// Middleware demands credentials on every request, upgrades and plain
// requests alike, before anything else is done for it: a refusal is a 401
// with WWW-Authenticate and starts no process. A client address with too
// many failed logins gets 429 with Retry-After instead, before any check. An accepted request goes on
// without its Authorization header and token cookie (the child must never
// see a password), carrying REMOTE_USER and AUTH_TYPE=Basic for the child.
// A plain GET answered to an authenticated user sets the token cookie, which
// a WebSocket upgrade may present instead of credentials. It is a Chain of
// Basic alone.
func (a *Basic) Middleware(next http.Handler) http.Handler {
	c := &Chain{Basic: a, Log: a.log, OnRefuse: func(string, string) {
		if a.OnRefuse != nil {
			a.OnRefuse()
		}
	}}
	return c.Middleware(next)
}

// admit is r as the next handler gets it once user has authenticated: its
// secrets gone, REMOTE_USER and AUTH_TYPE set; a plain GET's answer gets
// the upgrade token cookie.
func (a *Basic) admit(w http.ResponseWriter, r *http.Request, user string) *http.Request {
	r = stripSecrets(r)
	r = bridge.WithEnv(r, "REMOTE_USER="+bridge.CleanHeaderValue(user), "AUTH_TYPE=Basic")
	if !bridge.IsUpgrade(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		http.SetCookie(w, &http.Cookie{
			Name:     TokenCookie,
			Value:    a.token(user, a.now().Add(TokenTTL)),
			Path:     "/",
			MaxAge:   int(TokenTTL / time.Second),
			HttpOnly: true,
			Secure:   r.TLS != nil,
			SameSite: http.SameSiteStrictMode,
		})
	}
	return r
}

// challenge is the WWW-Authenticate of a refusal.
func (a *Basic) challenge() string { return `Basic realm="` + a.realm + `", charset="UTF-8"` }

// throttled reports how long client must wait after too many failed logins.
func (a *Basic) throttled(client netip.Addr) (time.Duration, bool) {
	return a.failures.blocked(client, a.now())
}

// refuseThrottled answers a client that failed too often with 429 and
// Retry-After, and logs it (a line a second at most).
func (a *Basic) refuseThrottled(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if ok, suppressed := a.throttleLg.Allow(a.now()); ok {
		a.log.Warn("refused", "remote", r.RemoteAddr, "path", r.URL.Path,
			"reason", "too many failed logins from this address", "retry_after", secs, "suppressed", suppressed)
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	http.Error(w, "429 Too Many Requests: too many failed logins, try again later", http.StatusTooManyRequests)
}

// authenticate checks Basic credentials, or on an upgrade the token cookie:
// the user, or whether any were presented and why they fail (with the
// user named, for the log). A wrong password counts against the client's
// failures.
func (a *Basic) authenticate(r *http.Request, client netip.Addr) (user string, presented bool, why []any) {
	if user, password, ok := r.BasicAuth(); ok {
		if a.Verify(user, password) {
			return user, true, nil
		}
		a.failures.fail(client, a.now())
		return "", true, []any{"reason", "bad credentials", "user", user}
	}
	if bridge.IsUpgrade(r) {
		if c, err := r.Cookie(TokenCookie); err == nil {
			if user, ok := a.checkToken(c.Value); ok {
				return user, true, nil
			}
			return "", true, []any{"reason", "expired or bad token"}
		}
	}
	return "", false, nil
}

// token is base64url(user) "." expiry "." base64url(HMAC-SHA256).
func (a *Basic) token(user string, exp time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + strconv.FormatInt(exp.Unix(), 10)
	return payload + "." + base64.RawURLEncoding.EncodeToString(a.sign(payload))
}

func (a *Basic) sign(payload string) []byte {
	m := hmac.New(sha256.New, a.key[:])
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (a *Basic) checkToken(tok string) (string, bool) {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return "", false
	}
	payload, sig := tok[:i], tok[i+1:]
	want, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(want, a.sign(payload)) {
		return "", false
	}
	userB64, expS, ok := strings.Cut(payload, ".")
	if !ok {
		return "", false
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil || !a.now().Before(time.Unix(exp, 0)) {
		return "", false
	}
	user, err := base64.RawURLEncoding.DecodeString(userB64)
	if err != nil {
		return "", false
	}
	// The credential may have been removed since; tokens outlive no one.
	for _, c := range a.creds {
		if c.user == string(user) {
			return c.user, true
		}
	}
	return "", false
}

// stripSecrets returns r without its Authorization header and without the
// token cookie, so neither reaches a child's environment.
func stripSecrets(r *http.Request) *http.Request {
	_, hasAuth := r.Header["Authorization"]
	if !hasAuth && !hasCookie(r, TokenCookie) {
		return r
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del("Authorization")
	withoutCookie(r2.Header, TokenCookie)
	return r2
}
