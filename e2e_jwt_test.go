package main_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// End-to-end tests of tokens (--jwt-key, --jwks-url and their flags): who
// gets in, what the program learns of them, and a session that ends with
// its token.

// jwtKeys are one signing key of each kind the tests use, their public
// halves written as --jwt-key files.
type jwtKeys struct {
	hmac                   []byte
	rsa                    *rsa.PrivateKey
	ec                     *ecdsa.PrivateKey
	ed                     ed25519.PrivateKey
	hmacFile, rsaFile      string
	ecFile, edFile, rsaPEM string // rsaPEM: the RSA public key file's bytes
}

var (
	testKeysOnce sync.Once
	testKeys     jwtKeys
)

// keys makes the keys once per run (RSA key generation is slow under -race)
// and writes the files into a fresh folder of t.
func keys(t testing.TB) jwtKeys {
	t.Helper()
	testKeysOnce.Do(func() {
		testKeys.hmac = []byte("0123456789abcdef0123456789abcdef-test-secret")
		testKeys.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
		testKeys.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, testKeys.ed, _ = ed25519.GenerateKey(rand.Reader)
	})
	k := testKeys
	dir := t.TempDir()
	k.hmacFile = writeFile(t, filepath.Join(dir, "hmac.key"), string(k.hmac)+"\n", 0o600)
	k.rsaPEM = publicPEM(t, k.rsa.Public())
	k.rsaFile = writeFile(t, filepath.Join(dir, "rsa.pem"), k.rsaPEM, 0o644)
	k.ecFile = writeFile(t, filepath.Join(dir, "ec.pem"), publicPEM(t, k.ec.Public()), 0o644)
	k.edFile = writeFile(t, filepath.Join(dir, "ed.pem"), publicPEM(t, k.ed.Public()), 0o644)
	return k
}

func publicPEM(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// mint signs claims with method and key; kid, if set, goes in the header.
func mint(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// claimsFor are valid claims for user, expiring in d.
func claimsFor(user string, d time.Duration) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"sub": user, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(d).Unix()}
}

func bearer(tok string) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}}
}

// envProgram prints the variables a test looks at, then waits for input so
// the session stays open until the client leaves.
const envProgram = `for v in REMOTE_USER AUTH_TYPE JWT_CLAIMS QUERY_STRING REQUEST_URI HTTP_AUTHORIZATION HTTP_COOKIE HTTP_X_FORWARDED_USER; do
  eval "printf '%s=%s\n' $v \"\${$v-<unset>}\""
done
echo end
read line
`

// readUntilEnd reads VAR=value lines up to "end".
func readUntilEnd(t testing.TB, c *websocket.Conn) map[string]string {
	t.Helper()
	var lines []string
	for {
		line := readText(t, c)
		if line == "end" {
			return parseEnv(lines)
		}
		lines = append(lines, line)
	}
}

// Tokens signed with each kind of key get in; the program sees who and the
// verified claims, and never the token.
func TestJWTAlgorithms(t *testing.T) {
	t.Parallel()
	k := keys(t)
	s := startServer(t, "--jwt-key="+k.hmacFile, "--jwt-key="+k.rsaFile, "--jwt-key="+k.ecFile, "--jwt-key="+k.edFile,
		"sh", "-c", envProgram)
	for _, tc := range []struct {
		method jwt.SigningMethod
		key    any
	}{
		{jwt.SigningMethodHS256, k.hmac},
		{jwt.SigningMethodRS256, k.rsa},
		{jwt.SigningMethodPS384, k.rsa},
		{jwt.SigningMethodES256, k.ec},
		{jwt.SigningMethodEdDSA, k.ed},
	} {
		t.Run(tc.method.Alg(), func(t *testing.T) {
			claims := claimsFor("alice-"+tc.method.Alg(), time.Hour)
			claims["roles"] = []string{"admin"}
			claims["big"] = json.Number("12345678901234567890")
			tok := mint(t, tc.method, tc.key, claims, "")
			c := dialOpts(t, s.URL("/"), bearer(tok))
			env := readUntilEnd(t, c)
			if env["REMOTE_USER"] != "alice-"+tc.method.Alg() || env["AUTH_TYPE"] != "Bearer" {
				t.Errorf("REMOTE_USER=%q AUTH_TYPE=%q", env["REMOTE_USER"], env["AUTH_TYPE"])
			}
			if env["HTTP_AUTHORIZATION"] != "<unset>" {
				t.Errorf("the program sees the token: HTTP_AUTHORIZATION=%q", env["HTTP_AUTHORIZATION"])
			}
			var got map[string]any
			dec := json.NewDecoder(strings.NewReader(env["JWT_CLAIMS"]))
			dec.UseNumber()
			if err := dec.Decode(&got); err != nil || got["sub"] != "alice-"+tc.method.Alg() ||
				got["big"] != json.Number("12345678901234567890") || strings.ContainsAny(env["JWT_CLAIMS"], " \n") {
				t.Errorf("JWT_CLAIMS=%q (%v): want the claims as compact JSON, numbers as signed", env["JWT_CLAIMS"], err)
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

// Each bad token gets 401 with a Bearer challenge naming why, the log says
// why without the token, and the metrics count it by reason.
func TestJWTRefusals(t *testing.T) {
	t.Parallel()
	k := keys(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, "--jwt-key="+k.rsaFile, "--jwt-issuer=https://idp.test", "--jwt-audience=wsbridge",
		"--jwt-leeway=0s", "--metrics-address="+metricsAddr, "cat")
	good := func(d time.Duration) jwt.MapClaims {
		c := claimsFor("alice", d)
		c["iss"], c["aud"] = "https://idp.test", "wsbridge"
		return c
	}
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := good(time.Hour)
		change(c)
		return c
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	noneTok := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(time.Hour), "")

	if c := dialOpts(t, s.URL("/"), bearer(mint(t, jwt.SigningMethodRS256, k.rsa, good(time.Hour), ""))); c == nil {
		t.Fatal("a good token was refused")
	}
	for _, tc := range []struct {
		name, token, reason, metric string
	}{
		{"missing", "", "no token", `method="none",reason="missing"`},
		{"garbage", "not.a.token", "malformed token", `reason="malformed"`},
		{"expired", mint(t, jwt.SigningMethodRS256, k.rsa, good(-time.Minute), ""), "token expired", `reason="expired"`},
		{"not yet valid", mint(t, jwt.SigningMethodRS256, k.rsa, with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), ""), "token not valid yet (nbf)", `reason="not_yet_valid"`},
		{"issued in the future", mint(t, jwt.SigningMethodRS256, k.rsa, with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() }), ""), "token issued in the future (iat)", `reason="issued_in_future"`},
		{"wrong audience", mint(t, jwt.SigningMethodRS256, k.rsa, with(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), ""), "wrong audience", `reason="audience"`},
		{"wrong issuer", mint(t, jwt.SigningMethodRS256, k.rsa, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }), ""), "wrong issuer", `reason="issuer"`},
		{"no exp", mint(t, jwt.SigningMethodRS256, k.rsa, with(func(c jwt.MapClaims) { delete(c, "exp") }), ""), "a required claim is missing (exp)", `reason="claims"`},
		{"no user", mint(t, jwt.SigningMethodRS256, k.rsa, with(func(c jwt.MapClaims) { delete(c, "sub") }), ""), `no \"sub\" claim (string or number) to name the user`, `reason="no_user"`},
		{"another key", mint(t, jwt.SigningMethodRS256, other, good(time.Hour), ""), "bad signature", `reason="bad_signature"`},
		{"alg none", noneTok, `alg \"none\" is refused`, `reason="alg_none"`},
		// The classic confusion: HS256 with the RSA public key's PEM bytes
		// as the HMAC secret.
		{"HS256 with the RSA public key", mint(t, jwt.SigningMethodHS256, []byte(k.rsaPEM), good(time.Hour), ""), `alg \"HS256\": no key of that kind is configured`, `reason="alg"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts *websocket.DialOptions
			if tc.token != "" {
				opts = bearer(tc.token)
			}
			_, res, err := tryDial(t, s.URL("/"+strings.ReplaceAll(tc.name, " ", "-")), opts)
			if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("dial: %v, %+v; want 401", err, res)
			}
			challenge := res.Header.Get("WWW-Authenticate")
			want := `Bearer realm="wsbridge", error="invalid_token", error_description="` + tc.reason + `"`
			if challenge != want {
				t.Errorf("WWW-Authenticate %s, want %s", challenge, want)
			}
			logged := s.waitLog(t, testTimeout, "msg=refused", "path=/"+strings.ReplaceAll(tc.name, " ", "-"))
			if tc.token != "" && strings.Contains(s.Stderr(), tc.token) {
				t.Errorf("the log holds the token: %s", logged)
			}
			if !strings.Contains(logged, tc.reason) && !strings.Contains(logged, "no credentials") {
				t.Errorf("log line %q does not say %q", logged, tc.reason)
			}
		})
	}
	metrics := scrapeMetrics(t, metricsAddr)
	for _, want := range []string{`reason="expired"} 1`, `reason="alg_none"} 1`, `reason="alg"} 1`, `reason="audience"} 1`, `wsbridge_handshakes_refused_total{reason="auth"} 12`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "auth"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The token in the query (browsers cannot set headers on a WebSocket) and in
// the cookie; neither reaches the program or the log.
func TestJWTCarriers(t *testing.T) {
	t.Parallel()
	k := keys(t)
	s := startServer(t, "--jwt-key="+k.hmacFile, "--jwt-cookie=sso", "sh", "-c", envProgram)
	tok := mint(t, jwt.SigningMethodHS256, k.hmac, claimsFor("carol", time.Hour), "")

	c := dial(t, s.URL("/q?x=1&access_token="+tok+"&y=2"))
	env := readUntilEnd(t, c)
	if env["REMOTE_USER"] != "carol" || env["QUERY_STRING"] != "x=1&y=2" || env["REQUEST_URI"] != "/q?x=1&y=2" {
		t.Errorf("query: REMOTE_USER=%q QUERY_STRING=%q REQUEST_URI=%q, want carol without the token", env["REMOTE_USER"], env["QUERY_STRING"], env["REQUEST_URI"])
	}

	c = dialOpts(t, s.URL("/c"), &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"theme=dark; sso=" + tok + "; lang=en"}}})
	env = readUntilEnd(t, c)
	if env["REMOTE_USER"] != "carol" || env["HTTP_COOKIE"] != "theme=dark; lang=en" {
		t.Errorf("cookie: REMOTE_USER=%q HTTP_COOKIE=%q, want carol and the other cookies", env["REMOTE_USER"], env["HTTP_COOKIE"])
	}
	// The default cookie name is not this server's.
	if code := dialStatus(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"wsbridge_jwt=" + tok}}}); code != 401 {
		t.Errorf("token in another cookie: %d, want 401", code)
	}
	// A refused query token is not logged either.
	bad := strings.TrimSuffix(tok, tok[len(tok)-4:]) + "AAAA"
	if code := dialStatus(t, s.URL("/bad?access_token="+bad), nil); code != 401 {
		t.Errorf("bad query token: %d, want 401", code)
	}
	s.waitLog(t, testTimeout, "msg=refused", "path=/bad", "bad signature")
	s.waitLog(t, testTimeout, "connect", "path=/c")
	if out := s.Stderr(); strings.Contains(out, tok[20:60]) || strings.Contains(out, bad[20:60]) {
		t.Errorf("the log holds a token:\n%s", out)
	}
}

// jwksServer serves a JWK Set that a test may change, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jwkset.JWK
	fail    bool
	fetches atomic.Int64
}

func newJWKSServer(t testing.TB) *jwksServer {
	j := &jwksServer{}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		set := jwkset.JWKSMarshal{}
		for _, k := range j.keys {
			set.Keys = append(set.Keys, k.Marshal())
		}
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) set(t testing.TB, fail bool, keys ...jwkset.JWK) {
	j.mu.Lock()
	j.keys, j.fail = keys, fail
	j.mu.Unlock()
}

func jwk(t testing.TB, pub any, kid string, alg jwkset.ALG) jwkset.JWK {
	t.Helper()
	k, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Keys from a JWK Set: a new kid is fetched when a token names it, a
// failed refresh keeps the keys, and a first fetch that fails stops the
// start.
func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	k := keys(t)
	idp := newJWKSServer(t)
	idp.set(t, false, jwk(t, k.rsa.Public(), "a", jwkset.AlgRS256))
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, "--jwks-url="+idp.URL+"/jwks.json", "--jwks-refresh=1s", "--metrics-address="+metricsAddr, "sh", "-c", envProgram)

	tokA := mint(t, jwt.SigningMethodRS256, k.rsa, claimsFor("dave", time.Hour), "a")
	if env := readUntilEnd(t, dialOpts(t, s.URL("/"), bearer(tokA))); env["REMOTE_USER"] != "dave" {
		t.Fatalf("REMOTE_USER=%q with key a", env["REMOTE_USER"])
	}
	// The same key signing as ES256 is refused: the JWK says RS256.
	// Rotation: the IdP adds key b; a token naming b gets in at once.
	idp.set(t, false, jwk(t, k.rsa.Public(), "a", jwkset.AlgRS256), jwk(t, k.ec.Public(), "b", jwkset.AlgES256))
	tokB := mint(t, jwt.SigningMethodES256, k.ec, claimsFor("erin", time.Hour), "b")
	if env := readUntilEnd(t, dialOpts(t, s.URL("/"), bearer(tokB))); env["REMOTE_USER"] != "erin" {
		t.Fatalf("REMOTE_USER=%q with the new key b", env["REMOTE_USER"])
	}
	s.waitLog(t, testTimeout, "JWK Set fetched", "why=\"unknown kid\"")
	// A kid nobody has: 401, and no fetch storm (one every 30 s at most).
	before := idp.fetches.Load()
	for i := range 5 {
		tokX := mint(t, jwt.SigningMethodES256, k.ec, claimsFor("x", time.Hour), fmt.Sprintf("nobody-%d", i))
		if code := dialStatus(t, s.URL("/"), bearer(tokX)); code != 401 {
			t.Fatalf("unknown kid: %d, want 401", code)
		}
	}
	if n := idp.fetches.Load() - before; n > 2 { // the interval's fetch may fall in between
		t.Errorf("%d fetches for 5 unknown kids, want at most one (plus the interval's)", n)
	}
	// The IdP fails: the keys fetched before still verify; the failure is
	// logged and counted.
	idp.set(t, true)
	s.waitLog(t, testTimeout, "JWK Set fetch failed", "keeping the keys")
	if env := readUntilEnd(t, dialOpts(t, s.URL("/"), bearer(tokB))); env["REMOTE_USER"] != "erin" {
		t.Fatalf("REMOTE_USER=%q after a failed refresh", env["REMOTE_USER"])
	}
	if m := scrapeMetrics(t, metricsAddr); !strings.Contains(m, `wsbridge_jwks_fetches_total{result="error"}`) ||
		strings.Contains(m, `wsbridge_jwks_fetches_total{result="error"} 0`) {
		t.Errorf("/metrics does not count the failed fetch:\n%s", grepLines(m, "jwks"))
	}

	// A first fetch that fails: wsbridge does not start.
	code, out := runWsbridge(t, nil, "--address=127.0.0.1", fmt.Sprintf("--port=%d", freePort(t)), "--jwks-url="+idp.URL+"/jwks.json", "cat")
	if code != 1 || !strings.Contains(out, "--jwks-url=") || !strings.Contains(out, "500") {
		t.Errorf("start with a failing JWK Set: exit %d, %q; want 1 naming --jwks-url and the status", code, out)
	}
}

// Mistakes in the token flags stop the start with a message naming the
// flag (exit 1 for a key that cannot be used, 2 for flags that do not go
// together).
func TestJWTFlagErrors(t *testing.T) {
	t.Parallel()
	k := keys(t)
	dir := t.TempDir()
	short := writeFile(t, filepath.Join(dir, "short.key"), "too-short\n", 0o600)
	private := writeFile(t, filepath.Join(dir, "private.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")})), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--jwt-issuer=x"}, "--jwt-issuer needs --jwt-key or --jwks-url"},
		{[]string{"--jwt-key=" + k.hmacFile, "--jwks-refresh=5m"}, "--jwks-refresh needs --jwks-url"},
		{[]string{"--jwt-key=" + k.hmacFile, "--jwt-leeway=-1s"}, "--jwt-leeway=-1s: must be 0 or more"},
		{[]string{"--jwt-key=" + short}, "an HMAC secret of 9 bytes: want at least 32"},
		{[]string{"--jwt-key=" + private}, `a PEM "PRIVATE KEY" block`},
		{[]string{"--jwt-key=" + filepath.Join(dir, "missing")}, "--jwt-key=" + filepath.Join(dir, "missing")},
		{[]string{"--jwks-url=ftp://x/"}, "--jwks-url=\"ftp://x/\": want an http:// or https:// URL"},
		{[]string{"--auth-header=X-Forwarded-User"}, "--auth-header needs --trusted-proxy"},
		{[]string{"--auth-header=X Forwarded", "--trusted-proxy=127.0.0.1"}, "not a header name"},
		{[]string{"--terminal", "--writable", "--no-auth", "--jwt-key=" + k.hmacFile}, "--no-auth cannot be combined with"},
	} {
		args := append([]string{"--address=127.0.0.1", fmt.Sprintf("--port=%d", freePort(t))}, tc.args...)
		code, out := runWsbridge(t, nil, append(args, "cat")...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: exit %d, %q; want an error saying %q", tc.args, code, out, tc.want)
		}
	}
}
