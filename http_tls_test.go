package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testCert is a key pair signed by parent (self-signed when parent is nil).
type testCert struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certFile string
	keyFile  string
}

// makeCert writes a certificate for 127.0.0.1 (or a client certificate
// named cn) into dir.
func makeCert(t *testing.T, dir, cn string, isCA, client bool, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"wsbridge tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	switch {
	case isCA:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	case client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	c := &testCert{cert: cert, key: key, certFile: filepath.Join(dir, cn+".crt"), keyFile: filepath.Join(dir, cn+".key")}
	os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return c
}

func (c *testCert) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

func (c *testCert) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key}
}

func wssOpts(cfg *tls.Config) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: httpClient(cfg)}
}

func TestHTTPTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := makeCert(t, dir, "server", false, false, nil)
	www := t.TempDir()
	writeFile(t, filepath.Join(www, "index.html"), "secure", 0o644)
	s := startServer(t, "--ssl", "--sslcert="+srv.certFile, "--sslkey="+srv.keyFile, "--staticdir="+www, "env")

	cfg := &tls.Config{RootCAs: srv.pool()}
	if res, body := httpRequest(t, httpClient(cfg), "GET", s.HTTPURL("/"), nil); res.StatusCode != 200 || body != "secure" || res.TLS == nil {
		t.Fatalf("https static: %d %q", res.StatusCode, body)
	}
	env := readEnv(t, dialOpts(t, s.URL("/"), wssOpts(cfg)))
	if env["HTTPS"] != "on" {
		t.Errorf("HTTPS=%q", env["HTTPS"])
	}
	if _, ok := env["SSL_CLIENT_VERIFY"]; ok {
		t.Error("SSL_CLIENT_VERIFY set without --sslca")
	}
	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: srv.pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", s.addr, old); err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake succeeded")
	} else if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1: %v, want the server's protocol version alert", err)
	}
	// Plain HTTP on the TLS port gets no page.
	if res, err := http.Get("http://" + s.addr + "/"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS port")
		}
	}
}

func TestHTTPTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := makeCert(t, dir, "first", false, false, nil)
	second := makeCert(t, dir, "second", false, false, nil)
	live := filepath.Join(t.TempDir(), "live")
	os.Mkdir(live, 0o755)
	certFile, keyFile := filepath.Join(live, "cert.pem"), filepath.Join(live, "key.pem")
	install := func(c *testCert) {
		for src, dst := range map[string]string{c.certFile: certFile, c.keyFile: keyFile} {
			b, _ := os.ReadFile(src)
			if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
				t.Fatal(err)
			}
			os.Rename(dst+".tmp", dst)
		}
	}
	install(first)
	s := startServer(t, "--ssl", "--sslcert="+certFile, "--sslkey="+keyFile, "cat")

	session := dialOpts(t, s.URL("/"), wssOpts(&tls.Config{RootCAs: first.pool()}))
	expectEcho(t, session, "before")

	install(second)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 10*time.Second, "certificates reloaded")
	// New connections get the new certificate...
	if res, _ := httpRequest(t, httpClient(&tls.Config{RootCAs: second.pool()}), "GET", s.HTTPURL("/"), nil); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("after reload: %d", res.StatusCode)
	}
	// ...and the session on the old one goes on.
	expectEcho(t, session, "after")

	// A broken file keeps the current certificate.
	os.WriteFile(certFile, []byte("garbage"), 0o644)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 10*time.Second, "not reloaded")
	if res, _ := httpRequest(t, httpClient(&tls.Config{RootCAs: second.pool()}), "GET", s.HTTPURL("/"), nil); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("after failed reload: %d", res.StatusCode)
	}
	expectEcho(t, session, "still")
}

func TestHTTPClientCert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := makeCert(t, dir, "ca", true, false, nil)
	srv := makeCert(t, dir, "server", false, false, ca)
	client := makeCert(t, dir, "alice", false, true, ca)
	stranger := makeCert(t, dir, "mallory", false, true, nil)
	s := startServer(t, "--ssl", "--sslcert="+srv.certFile, "--sslkey="+srv.keyFile, "--sslca="+ca.certFile, "env")

	for name, certs := range map[string][]tls.Certificate{"no certificate": nil, "unknown CA": {stranger.tlsCert()}} {
		c, _, err := tryDial(t, s.URL("/"), wssOpts(&tls.Config{RootCAs: ca.pool(), Certificates: certs}))
		if err == nil {
			c.CloseNow()
			t.Errorf("%s: connected", name)
		}
	}
	env := readEnv(t, dialOpts(t, s.URL("/"), wssOpts(&tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{client.tlsCert()}})))
	if env["SSL_CLIENT_VERIFY"] != "SUCCESS" || env["SSL_CLIENT_S_DN"] != "CN=alice,O=wsbridge tests" {
		t.Errorf("SSL_CLIENT_VERIFY=%q SSL_CLIENT_S_DN=%q", env["SSL_CLIENT_VERIFY"], env["SSL_CLIENT_S_DN"])
	}
}

func TestHTTPRedirPort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := makeCert(t, dir, "server", false, false, nil)
	redir := freePort(t)
	s := startServer(t, "--ssl", "--sslcert="+srv.certFile, "--sslkey="+srv.keyFile, "--redirport="+strconv.Itoa(redir), "cat")
	s.waitDial(t, "tcp", "127.0.0.1:"+strconv.Itoa(redir))
	base := "http://127.0.0.1:" + strconv.Itoa(redir)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/chat/room?x=1&y=%2F", http.StatusMovedPermanently},
		{"HEAD", "/", http.StatusMovedPermanently},
		{"POST", "/form", http.StatusPermanentRedirect},
	}
	for _, tt := range tests {
		res, _ := httpRequest(t, nil, tt.method, base+tt.path, nil)
		want := s.HTTPURL(tt.path)
		if res.StatusCode != tt.status || res.Header.Get("Location") != want {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, res.StatusCode, res.Header.Get("Location"), tt.status, want)
		}
	}
	// The TLS port itself still serves.
	expectEcho(t, dialOpts(t, s.URL("/"), wssOpts(&tls.Config{RootCAs: srv.pool()})), "tls")
}
