package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsbridge/wsbridge/bridge"
)

func writeKey(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestLoadKeyFile(t *testing.T) {
	t.Parallel()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	pkix1, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pkix2, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	pkix3, _ := x509.MarshalPKIXPublicKey(edPub)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotAfter: time.Now().Add(time.Hour)}
	cert, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)

	// Three public keys and a certificate in one file.
	keys, err := loadKeyFile(writeKey(t, "all.pem", pemOf("PUBLIC KEY", pkix1)+pemOf("PUBLIC KEY", pkix2)+
		pemOf("PUBLIC KEY", pkix3)+pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))+pemOf("CERTIFICATE", cert)))
	if err != nil || len(keys) != 5 {
		t.Fatalf("loaded %d keys, %v; want 5", len(keys), err)
	}
	// A secret: blanks around it are not part of it.
	keys, err = loadKeyFile(writeKey(t, "hmac", "  "+strings.Repeat("s", 32)+"\n"))
	if err != nil || string(keys[0].key.([]byte)) != strings.Repeat("s", 32) {
		t.Fatalf("secret %q, %v", keys, err)
	}
	for name, body := range map[string]string{
		"short":   "0123456789\n",
		"private": pemOf("PRIVATE KEY", []byte("x")),
		"broken":  pemOf("PUBLIC KEY", []byte("not DER")),
	} {
		if _, err := loadKeyFile(writeKey(t, name, body)); err == nil {
			t.Errorf("%s: loaded, want an error", name)
		}
	}
}

// fits decides which key may verify which algorithm: the key's kind, never
// the token's say.
func TestFits(t *testing.T) {
	t.Parallel()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	secret := []byte("s")
	for _, tc := range []struct {
		alg  string
		key  any
		want bool
	}{
		{"HS256", secret, true},
		{"HS512", secret, true},
		{"HS256", &rsaKey.PublicKey, false}, // the confusion
		{"RS256", secret, false},
		{"RS256", &rsaKey.PublicKey, true},
		{"PS512", &rsaKey.PublicKey, true},
		{"ES256", &p256.PublicKey, true},
		{"ES256", &p384.PublicKey, false},
		{"ES384", &p384.PublicKey, true},
		{"EdDSA", edPub, true},
		{"EdDSA", &p256.PublicKey, false},
		{"none", secret, false},
	} {
		if got := fits(tc.alg, tc.key); got != tc.want {
			t.Errorf("fits(%s, %T) = %v, want %v", tc.alg, tc.key, got, tc.want)
		}
	}
}

// The chain: a proxy's header counts only from a marked (trusted) peer, and
// is removed otherwise; a JWT sets the deadline; every secret is stripped.
func TestChainIdentity(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 32)
	j, err := NewJWT(JWTOptions{KeyFiles: []string{writeKey(t, "k", secret)}, Leeway: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := &Chain{Proxy: &ProxyHeader{Header: "X-User"}, JWT: j}
	var seen *http.Request
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
	serve := func(r *http.Request) int {
		seen = nil
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}

	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-User", "ann")
	if code := serve(FromTrustedProxy(r)); code != 200 || !strings.Contains(strings.Join(bridge.ExtraEnv(seen), " "), "REMOTE_USER=ann AUTH_TYPE=proxy") {
		t.Fatalf("trusted proxy: %d, %v", code, seen)
	}
	if code := serve(r); code != 401 {
		t.Fatalf("untrusted peer with the header: %d, want 401", code)
	}

	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bo", "exp": exp.Unix()}).SignedString([]byte(secret))
	r = httptest.NewRequest("GET", "/p?a=1&access_token="+tok, nil)
	r.Header.Set("X-User", "forged")
	if code := serve(r); code != 200 {
		t.Fatalf("query token: %d", code)
	}
	if d, ok := bridge.Deadline(seen); !ok || !d.Equal(exp.Add(time.Second)) {
		t.Errorf("deadline %v %v, want exp plus the leeway %v", d, ok, exp.Add(time.Second))
	}
	if seen.URL.RawQuery != "a=1" || seen.RequestURI != "/p?a=1" || seen.Header.Get("X-User") != "" {
		t.Errorf("left in the request: query %q, URI %q, X-User %q", seen.URL.RawQuery, seen.RequestURI, seen.Header.Get("X-User"))
	}
	env := strings.Join(bridge.ExtraEnv(seen), "\n")
	if !strings.Contains(env, "REMOTE_USER=bo\nAUTH_TYPE=Bearer\nJWT_CLAIMS={") {
		t.Errorf("env %q", env)
	}
}
