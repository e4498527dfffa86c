package main_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"
)

func TestHTTPOrigin(t *testing.T) {
	t.Parallel()
	list := startServer(t, "--origin=good.example,https://secure.example:8443", "--maxforks=1", "cat")
	same := startServer(t, "--sameorigin", "--maxforks=1", "cat")
	tests := []struct {
		name   string
		s      *server
		origin string // "": none
		ok     bool
	}{
		{"listed, any port", list, "http://good.example:1234", true},
		{"listed, https", list, "https://good.example", true},
		{"listed with scheme and port", list, "https://secure.example:8443", true},
		{"wrong scheme", list, "http://secure.example:8443", false},
		{"wrong port", list, "https://secure.example:443", false},
		{"not listed", list, "http://evil.example", false},
		{"missing", list, "", false},
		{"null", list, "null", false},
		{"same origin", same, "SAME", true},
		{"same host other port", same, "http://127.0.0.1:1", false},
		{"same origin missing", same, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := tt.origin
			if origin == "SAME" {
				origin = tt.s.HTTPURL("")
			}
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			opts := &websocket.DialOptions{HTTPHeader: h}
			if !tt.ok {
				if got := dialStatus(t, tt.s.URL("/"), opts); got != http.StatusForbidden {
					t.Fatalf("status %d, want 403", got)
				}
				return
			}
			c := dialOpts(t, tt.s.URL("/"), opts)
			expectEcho(t, c, "hi")
			c.Close(websocket.StatusNormalClosure, "")
			waitIdle(t, tt.s)
		})
	}
	list.await(testTimeout, func(l string) bool { return strings.Count(l, "msg=connect") >= 3 })
	if n := strings.Count(list.Stderr(), "msg=connect"); n != 3 {
		t.Errorf("refused origins started processes:\n%s", list.Stderr())
	}
}

// waitIdle waits until the server logged as many disconnects as connects,
// at least one of each, so the next client finds the --maxforks slot free
// (the daemon frees it before logging the disconnect).
func waitIdle(t *testing.T, s *server) {
	t.Helper()
	if !s.await(10*time.Second, func(l string) bool {
		n := strings.Count(l, "msg=connect")
		return n > 0 && n == strings.Count(l, "msg=disconnect")
	}) {
		t.Fatal("sessions did not end")
	}
}

func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "users")
	writeFile(t, creds, "# users\ncarol:"+string(hash)+"\n", 0o600)
	www := t.TempDir()
	writeFile(t, filepath.Join(www, "index.html"), "<p>private</p>", 0o644)
	s := startServer(t, "--credential=alice:open sesame", "--credential-file="+creds, "--staticdir="+www, "--maxforks=1", "--passenv=", "env")

	basic := func(user, pass string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
	}
	// Static and upgrade alike need credentials.
	for _, h := range []http.Header{nil, basic("alice", "wrong"), basic("mallory", "open sesame")} {
		res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), h)
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("static with %v: %d %q", h, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
		if got := dialStatus(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: h}); got != http.StatusUnauthorized {
			t.Errorf("upgrade with %v: %d, want 401", h, got)
		}
	}
	if res, body := httpRequest(t, nil, "GET", s.HTTPURL("/"), basic("alice", "open sesame")); res.StatusCode != 200 || body != "<p>private</p>" {
		t.Errorf("static with credentials: %d %q", res.StatusCode, body)
	}

	for _, user := range []struct{ name, pass string }{{"alice", "open sesame"}, {"carol", "hashed pw"}} {
		env := readEnv(t, dialOpts(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: basic(user.name, user.pass)}))
		if env["REMOTE_USER"] != user.name || env["AUTH_TYPE"] != "Basic" {
			t.Errorf("%s: REMOTE_USER=%q AUTH_TYPE=%q", user.name, env["REMOTE_USER"], env["AUTH_TYPE"])
		}
		if _, ok := env["HTTP_AUTHORIZATION"]; ok {
			t.Errorf("%s: the child sees the Authorization header", user.name)
		}
		waitIdle(t, s)
	}
	if l := s.Stderr(); strings.Contains(l, "open sesame") || strings.Contains(l, "hashed pw") || strings.Contains(l, "wrong") {
		t.Errorf("a password reached the log:\n%s", l)
	}
	// The log reaches the test through a pipe: wait for both accepted
	// sessions' lines before checking that no refused request added one.
	s.await(testTimeout, func(l string) bool { return strings.Count(l, "msg=connect") >= 2 })
	if strings.Count(s.Stderr(), "msg=connect") != 2 {
		t.Errorf("refused requests started processes:\n%s", s.Stderr())
	}
}

// TestHTTPAuthToken plays Safari: credentials on the page, none on the
// upgrade, which gets in with the cookie the page carried.
func TestHTTPAuthToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--credential=alice:pw", "--devconsole", "env")
	res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))}})
	if res.StatusCode != 200 {
		t.Fatalf("console: %d", res.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "wsbridge_token" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("token cookie: %+v", cookie)
	}
	h := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value + "; other=1"}}
	env := readEnv(t, dialOpts(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: h}))
	if env["REMOTE_USER"] != "alice" || env["AUTH_TYPE"] != "Basic" {
		t.Errorf("REMOTE_USER=%q AUTH_TYPE=%q", env["REMOTE_USER"], env["AUTH_TYPE"])
	}
	if env["HTTP_COOKIE"] != "other=1" {
		t.Errorf("HTTP_COOKIE=%q: the token must not reach the child", env["HTTP_COOKIE"])
	}
	bad := http.Header{"Cookie": {cookie.Name + "=" + strings.Replace(cookie.Value, "a", "b", 1) + "x"}}
	if got := dialStatus(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: bad}); got != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", got)
	}
}

func TestHTTPHeaders(t *testing.T) {
	t.Parallel()
	www := t.TempDir()
	writeFile(t, filepath.Join(www, "index.html"), "hi", 0o644)
	s := startServer(t, "--staticdir="+www,
		"--header=X-All: everywhere", "--header=Cache-Control: no-cache, no-store",
		"--header-ws=X-WS: upgrade", "--header-http=X-HTTP: plain", "cat")

	res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), nil)
	if res.Header.Get("X-All") != "everywhere" || res.Header.Get("Cache-Control") != "no-cache, no-store" ||
		res.Header.Get("X-HTTP") != "plain" || res.Header.Get("X-WS") != "" {
		t.Errorf("plain response headers: %v", res.Header)
	}
	res, _ = httpRequest(t, nil, "GET", s.HTTPURL("/missing"), nil) // 426
	if res.Header.Get("X-All") != "everywhere" || res.Header.Get("X-HTTP") != "plain" {
		t.Errorf("refusal headers: %v", res.Header)
	}
	_, wres, err := tryDial(t, s.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if wres.Header.Get("X-All") != "everywhere" || wres.Header.Get("X-WS") != "upgrade" || wres.Header.Get("X-HTTP") != "" {
		t.Errorf("101 headers: %v", wres.Header)
	}
}

func TestHTTPSubprotocol(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--subprotocol=chat.v2", "--subprotocol=chat.v1,json", "env")
	plain := startServer(t, "env")
	tests := []struct {
		name    string
		s       *server
		offered []string
		want    string // "!" : refused
	}{
		{"server order wins", s, []string{"json", "chat.v1", "chat.v2"}, "chat.v2"},
		{"second choice", s, []string{"json", "chat.v1"}, "chat.v1"},
		{"only one known", s, []string{"x", "json"}, "json"},
		{"none offered", s, nil, ""},
		{"only unknown", s, []string{"mqtt", "stomp"}, "!"},
		{"server speaks none", plain, []string{"chat.v1"}, "!"},
		{"server speaks none, none offered", plain, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := &websocket.DialOptions{Subprotocols: tt.offered}
			if tt.want == "!" {
				_, res, err := tryDial(t, tt.s.URL("/"), opts)
				if err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
					t.Fatalf("want 400, got %v %v", res, err)
				}
				return
			}
			c := dialOpts(t, tt.s.URL("/"), opts)
			if c.Subprotocol() != tt.want {
				t.Errorf("handshake chose %q, want %q", c.Subprotocol(), tt.want)
			}
			env := readEnv(t, c)
			if got, ok := env["WEBSOCKET_PROTOCOL"]; !ok || got != tt.want {
				t.Errorf("WEBSOCKET_PROTOCOL=%q (set %v), want %q", got, ok, tt.want)
			}
		})
	}
	// The refusal says why.
	req, _ := http.NewRequest("GET", s.HTTPURL("/"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", "mqtt")
	res, err := httpClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, _ := res.Body.Read(buf)
	res.Body.Close()
	if !strings.Contains(string(buf[:n]), "chat.v2, chat.v1, json") {
		t.Errorf("refusal body %q does not list the server's subprotocols", buf[:n])
	}
}

func TestHTTPHeaderLimits(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--maxforks=1", "--headertimeout=500ms", "cat")

	// 64 KiB of headers in all: a little less passes, more gets 431.
	fits := http.Header{"X-Big": {strings.Repeat("a", 60<<10)}}
	if res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), fits); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("60 KiB header: %d, want 426", res.StatusCode)
	}
	tooBig := http.Header{"X-Big": {strings.Repeat("a", 65<<10)}}
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Big: %s\r\n\r\n", tooBig.Get("X-Big"))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "431") {
		t.Errorf("65 KiB header: %q %v, want 431", status, err)
	}

	// A half-open handshake: headers never finished. The connection is
	// dropped after --headertimeout, and meanwhile it holds no process slot.
	half, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	fmt.Fprintf(half, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n")
	c := dialOpts(t, s.URL("/"), nil)
	expectEcho(t, c, "the slot is free")
	c.Close(websocket.StatusNormalClosure, "")
	half.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = half.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("half-open connection still open after %v", time.Since(start))
	}
}

// TestHTTPHalfOpenUpgrade: a client that completes the request but never
// reads the 101 still gets its session; one that disappears frees the slot.
func TestHTTPHalfOpenUpgrade(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--maxforks=1", "cat")
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c, _, err := websocket.Dial(ctx, s.URL("/"), nil)
		if err == nil {
			expectEcho(t, c, "free again")
			c.CloseNow()
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the vanished client's slot never came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
