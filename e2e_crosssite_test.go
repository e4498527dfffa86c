package main_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Attacks from other web pages (issue 21): DNS rebinding, clickjacking,
// cross-site WebSocket hijacking, and the access token kept out of the log.

// What hostRequest sends.
const (
	plainGET   = iota
	upgradeTTY // a WebSocket handshake offering the terminal's subprotocol
	upgradeAny // a WebSocket handshake offering no subprotocol
)

// hostRequest sends one request to addr over a fresh connection (TLS when
// tlsConfig is set) with exactly this Host header and the Origin header
// when origin is not "", as a rebound page's browser would send it. It
// returns the response, its body read.
func hostRequest(t *testing.T, addr string, tlsConfig *tls.Config, path, host, origin string, kind int) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tlsConfig != nil {
		conn = tls.Client(conn, tlsConfig)
	}
	conn.SetDeadline(time.Now().Add(testTimeout))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	switch kind {
	case plainGET:
		req += "Connection: close\r\n"
	case upgradeTTY:
		req += "Sec-WebSocket-Protocol: " + ttyProto + "\r\n"
	}
	if kind != plainGET {
		req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s with Host %s: %v", path, host, err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, res.Body)
	}
	res.Body.Close()
	return res
}

// The repro of issue 21: a page of rebind.attacker.example whose name now
// points at 127.0.0.1 opens the writable shell of a loopback wsbridge,
// Origin and Host both its own. The Host check refuses it before anything
// else, the page and a pipe endpoint alike, and on the metrics listener.
func TestCrossSiteDNSRebinding(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	shell := startServer(t, "--terminal", "--writable", "--metrics-address="+metricsAddr, "/bin/sh")
	_, port := splitPort(shell.addr)
	evil := "rebind.attacker.example:" + port

	if res := hostRequest(t, shell.addr, nil, "/", evil, "http://"+evil, upgradeTTY); res.StatusCode != http.StatusForbidden {
		t.Fatalf("rebound upgrade to the shell: HTTP %d, want 403", res.StatusCode)
	}
	shell.waitLog(t, testTimeout, "msg=refused", "reason=host", "host="+evil)
	if res := hostRequest(t, shell.addr, nil, "/", evil, "", plainGET); res.StatusCode != http.StatusForbidden {
		t.Errorf("rebound terminal page: HTTP %d, want 403", res.StatusCode)
	}
	if res := hostRequest(t, metricsAddr, nil, "/metrics", "rebind.attacker.example:"+port, "", plainGET); res.StatusCode != http.StatusForbidden {
		t.Errorf("rebound /metrics: HTTP %d, want 403", res.StatusCode)
	}
	// What the server goes by: addresses, localhost.
	for _, host := range []string{shell.addr, "127.0.0.1", "[::1]:" + port, "localhost:" + port, "LocalHost.:" + port, "app.localhost:" + port} {
		res := hostRequest(t, shell.addr, nil, "/", host, "http://"+host, upgradeTTY)
		if res.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("upgrade with Host %s: HTTP %d, want 101", host, res.StatusCode)
		}
	}
	if res := hostRequest(t, metricsAddr, nil, "/metrics", metricsAddr, "", plainGET); res.StatusCode != http.StatusOK {
		t.Errorf("/metrics by address: HTTP %d", res.StatusCode)
	}
	_, body := httpRequest(t, nil, "GET", "http://"+metricsAddr+"/metrics", nil)
	if v := metricValue(body, `wsbridge_handshakes_refused_total{reason="host"}`); v != "3" {
		t.Errorf("host refusals counted %q, want 3", v)
	}

	// A pipe endpoint: no session starts, a plain request gets no 426.
	pipe := startServer(t, "cat")
	_, port = splitPort(pipe.addr)
	evil = "rebind.attacker.example:" + port
	for _, kind := range []int{upgradeAny, plainGET} {
		if res := hostRequest(t, pipe.addr, nil, "/", evil, "http://"+evil, kind); res.StatusCode != http.StatusForbidden {
			t.Errorf("rebound request to a pipe endpoint (kind %d): HTTP %d, want 403", kind, res.StatusCode)
		}
	}
	if strings.Contains(pipe.Stderr(), "msg=connect") {
		t.Errorf("a refused Host started a session:\n%s", pipe.Stderr())
	}
}

// A socket passed by systemd gets the same check.
func TestCrossSiteDNSRebindingActivated(t *testing.T) {
	t.Parallel()
	activate := need(t, "systemd-socket-activate", "socket activation test")
	web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProgram(t, nil, activate, "-l", web, wsbridgeBinary(t), "cat")
	if p.match(10*time.Second, regexp.MustCompile(`Listening on `+regexp.QuoteMeta(web))) == nil {
		if strings.Contains(p.Stderr(), "rror") {
			skipUnlessCI(t, "systemd-socket-activate cannot run here:\n"+p.Stderr())
		}
		t.Fatalf("systemd-socket-activate did not listen:\n%s", p.Stderr())
	}
	_, port := splitPort(web)
	evil := "rebind.attacker.example:" + port
	if res := hostRequest(t, web, nil, "/", evil, "http://"+evil, upgradeAny); res.StatusCode != http.StatusForbidden {
		t.Errorf("rebound upgrade on a socket-activated listener: HTTP %d, want 403", res.StatusCode)
	}
	if res := hostRequest(t, web, nil, "/", web, "", upgradeAny); res.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("upgrade by address on a socket-activated listener: HTTP %d, want 101", res.StatusCode)
	}
}

// --allowed-host lists the names a proxy or the users give; * turns the
// check off, with a warning.
func TestCrossSiteAllowedHost(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--writable", "--allowed-host=ws.example.com,.corp.example", "--allowed-host=*.wild.example", "/bin/sh")
	_, port := splitPort(s.addr)
	for host, want := range map[string]int{
		"ws.example.com:" + port:          http.StatusSwitchingProtocols,
		"WS.Example.COM":                  http.StatusSwitchingProtocols,
		"corp.example:" + port:            http.StatusSwitchingProtocols,
		"a.b.corp.example:" + port:        http.StatusSwitchingProtocols,
		"x.wild.example:" + port:          http.StatusSwitchingProtocols,
		"wild.example:" + port:            http.StatusForbidden, // *. is subdomains only
		"example.com:" + port:             http.StatusForbidden,
		"ws.example.com.evil:" + port:     http.StatusForbidden,
		"evilcorp.example:" + port:        http.StatusForbidden,
		"rebind.attacker.example:" + port: http.StatusForbidden,
	} {
		if res := hostRequest(t, s.addr, nil, "/", host, "http://"+host, upgradeTTY); res.StatusCode != want {
			t.Errorf("Host %s: HTTP %d, want %d", host, res.StatusCode, want)
		}
	}

	off := startServer(t, "--allowed-host=*", "cat")
	off.waitLog(t, testTimeout, "level=WARN", "--allowed-host=*")
	_, port = splitPort(off.addr)
	if res := hostRequest(t, off.addr, nil, "/", "rebind.attacker.example:"+port, "", upgradeAny); res.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("--allowed-host=*: HTTP %d, want 101", res.StatusCode)
	}

	for _, bad := range []string{"http://ws.example.com", "ws.example.com:8080", "a b"} {
		code, out := runWsbridge(t, nil, "--allowed-host="+bad, "cat")
		if code != 2 || !strings.Contains(out, "--allowed-host=") {
			t.Errorf("--allowed-host=%s: exit %d %q, want 2 naming the flag", bad, code, out)
		}
	}
}

// With --ssl the certificate's DNS names are this server's names too; a
// wildcard covers one label.
func TestCrossSiteAllowedHostTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := namedCert(t, "wsbridge.test", "*.wild.test")
	s := startServer(t, "--ssl", "--sslcert="+certFile, "--sslkey="+keyFile, "cat")
	_, port := splitPort(s.addr)
	cfg := &tls.Config{RootCAs: pool, ServerName: "wsbridge.test"}
	for host, want := range map[string]int{
		"wsbridge.test:" + port: http.StatusSwitchingProtocols,
		"a.wild.test:" + port:   http.StatusSwitchingProtocols,
		"a.b.wild.test:" + port: http.StatusForbidden,
		"wild.test:" + port:     http.StatusForbidden,
		"other.test:" + port:    http.StatusForbidden,
		"127.0.0.1:" + port:     http.StatusSwitchingProtocols,
	} {
		if res := hostRequest(t, s.addr, cfg, "/", host, "", upgradeAny); res.StatusCode != want {
			t.Errorf("TLS, Host %s: HTTP %d, want %d", host, res.StatusCode, want)
		}
	}
}

// namedCert writes a self-signed server certificate for 127.0.0.1 and
// these DNS names, and returns its files and a pool trusting it.
func namedCert(t *testing.T, names ...string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// checkNoFraming fails unless res refuses every frame: one CSP header with
// frame-ancestors 'none', and X-Frame-Options: DENY.
func checkNoFraming(t *testing.T, what string, res *http.Response) {
	t.Helper()
	csp := res.Header.Values("Content-Security-Policy")
	if len(csp) != 1 || !strings.Contains(csp[0], "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy %q, want one with frame-ancestors 'none'", what, csp)
	}
	if xfo := res.Header.Values("X-Frame-Options"); len(xfo) != 1 || xfo[0] != "DENY" {
		t.Errorf("%s: X-Frame-Options %q, want DENY", what, xfo)
	}
}

// No page wsbridge makes can be framed by another site (clickjacking a
// writable shell): the terminal page, the dev console, error pages; a
// policy the response states itself (--header-http, a CGI script) stays.
func TestCrossSiteFraming(t *testing.T) {
	t.Parallel()
	term := startServer(t, "--terminal", "--writable", "--header=Content-Security-Policy: default-src 'self'", "/bin/sh")
	res, body := httpRequest(t, nil, "GET", term.HTTPURL("/"), nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("terminal page: %d %q", res.StatusCode, tail(body, 200))
	}
	checkNoFraming(t, "terminal page", res)
	res, _ = httpRequest(t, nil, "POST", term.HTTPURL("/"), nil)
	checkNoFraming(t, "terminal page's 405", res)

	console := startServer(t, "--devconsole", "cat")
	res, _ = httpRequest(t, nil, "GET", console.HTTPURL("/"), nil)
	checkNoFraming(t, "dev console", res)

	pipe := startServer(t, "--header-http=Content-Security-Policy: default-src 'none'", "cat")
	res, _ = httpRequest(t, nil, "GET", pipe.HTTPURL("/"), nil)
	if res.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET on an endpoint: %d, want 426", res.StatusCode)
	}
	checkNoFraming(t, "426 page", res)
	if csp := res.Header.Get("Content-Security-Policy"); csp != "default-src 'none'; frame-ancestors 'none'" {
		t.Errorf("426 page: CSP %q, want --header-http's merged with frame-ancestors", csp)
	}
	res = hostRequest(t, pipe.addr, nil, "/", "rebind.attacker.example", "", plainGET)
	checkNoFraming(t, "Host refusal", res)

	// The operator's own policy for what is not wsbridge's page.
	own := startServer(t, "--header-http=X-Frame-Options: SAMEORIGIN", "cat")
	res, _ = httpRequest(t, nil, "GET", own.HTTPURL("/"), nil)
	if xfo := res.Header.Values("X-Frame-Options"); len(xfo) != 1 || xfo[0] != "SAMEORIGIN" {
		t.Errorf("--header-http X-Frame-Options: SAMEORIGIN became %q", xfo)
	}
}

// With credentials a browser sends by itself (Basic, client certificates),
// another site's page may not open a WebSocket in the visitor's name: a
// foreign Origin gets 403 unless --origin allows it; this server's own
// origin and programs (no Origin) connect.
func TestCrossSiteWebSocketHijacking(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--credential=alice:secret", "cat")
	creds := http.Header{"Authorization": {"Basic YWxpY2U6c2VjcmV0"}}
	withOrigin := func(origin string) *websocket.DialOptions {
		h := creds.Clone()
		if origin != "" {
			h.Set("Origin", origin)
		}
		return &websocket.DialOptions{HTTPHeader: h}
	}
	for _, origin := range []string{"http://evil.example", "http://127.0.0.1:1", "https://" + s.addr, "null"} {
		if code := dialStatus(t, s.URL("/"), withOrigin(origin)); code != http.StatusForbidden {
			t.Errorf("credentialed upgrade from Origin %s: HTTP %d, want 403", origin, code)
		}
	}
	s.waitLog(t, testTimeout, "msg=refused", "reason=origin", "evil.example")
	for _, origin := range []string{"http://" + s.addr, ""} {
		c := dialOpts(t, s.URL("/"), withOrigin(origin))
		expectEcho(t, c, "mine")
		c.Close(websocket.StatusNormalClosure, "")
	}

	// --credential-file too; --origin decides instead when given.
	users := writeFile(t, filepath.Join(t.TempDir(), "users"), "alice:secret\n", 0o600)
	file := startServer(t, "--credential-file="+users, "cat")
	if code := dialStatus(t, file.URL("/"), withOrigin("http://evil.example")); code != http.StatusForbidden {
		t.Errorf("--credential-file, foreign Origin: HTTP %d, want 403", code)
	}
	// A client certificate is sent by the browser by itself too.
	dir := t.TempDir()
	ca := makeCert(t, dir, "ca", true, false, nil)
	srv := makeCert(t, dir, "server", false, false, ca)
	alice := makeCert(t, dir, "alice", false, true, ca)
	certs := startServer(t, "--ssl", "--sslcert="+srv.certFile, "--sslkey="+srv.keyFile, "--sslca="+ca.certFile, "cat")
	tlsOpts := func(origin string) *websocket.DialOptions {
		o := wssOpts(&tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{alice.tlsCert()}})
		o.HTTPHeader = http.Header{"Origin": {origin}}
		return o
	}
	if code := dialStatus(t, certs.URL("/"), tlsOpts("https://evil.example")); code != http.StatusForbidden {
		t.Errorf("--sslca, foreign Origin: HTTP %d, want 403", code)
	}
	c := dialOpts(t, certs.URL("/"), tlsOpts("https://"+certs.addr))
	expectEcho(t, c, "own origin over TLS")
	c.Close(websocket.StatusNormalClosure, "")

	listed := startServer(t, "--credential=alice:secret", "--origin=partner.example", "cat")
	c = dialOpts(t, listed.URL("/"), withOrigin("http://partner.example"))
	expectEcho(t, c, "partner")
	c.Close(websocket.StatusNormalClosure, "")
}

// --token-file pins the access token: required on every listener, loopback
// ones too; never printed; the log shows it redacted. The redirect that
// puts it in a cookie cannot be framed either.
func TestCrossSiteTokenFile(t *testing.T) {
	t.Parallel()
	const token = "pinned-Token_0123456789"
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "token"), token+"\n", 0o600)
	s := startServer(t, "--terminal", "--writable", "--token-file="+tokenFile, "sh", "-c", "echo hello; read x")
	s.waitLog(t, testTimeout, "level=INFO", "--token-file", "?token=REDACTED")
	if code := dialStatus(t, s.URL("/"), &websocket.DialOptions{Subprotocols: []string{ttyProto}}); code != http.StatusForbidden {
		t.Fatalf("loopback upgrade without the pinned token: HTTP %d, want 403", code)
	}
	tc := ttyDial(t, s.URL("/?token="+token), nil)
	tc.waitOutput("hello")
	res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/?token="+token), nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("page with the token: %d, want 303", res.StatusCode)
	}
	checkNoFraming(t, "token redirect", res)
	if strings.Contains(s.Stderr(), token) {
		t.Errorf("the pinned token is printed or logged:\n%s", s.Stderr())
	}

	for name, content := range map[string]string{"short": "abc\n", "bad characters": "0123456789abcdef<>\n"} {
		f := writeFile(t, filepath.Join(t.TempDir(), "token"), content, 0o600)
		code, out := runWsbridge(t, nil, "--terminal", "--writable", "--token-file="+f, "sh")
		if code != 2 || !strings.Contains(out, "--token-file") {
			t.Errorf("%s token: exit %d %q, want 2 naming --token-file", name, code, out)
		}
	}
	code, out := runWsbridge(t, nil, "--terminal", "--token-file="+tokenFile, "sh")
	if code != 2 || !strings.Contains(out, "--token-file needs --terminal --writable") {
		t.Errorf("--token-file on a read-only terminal: exit %d %q", code, out)
	}
}
