package main_test

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"
)

// TestHardenHeaderEnv: headers whose names map onto the same variable as
// X-Remote-User ("X-Remote.User", "X_Remote_User") never reach the
// program's environment, in a session and in a CGI script alike: only
// names of letters, digits and '-' become HTTP_*.
func TestHardenHeaderEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeScript(t, filepath.Join(dir, "cgi", "env.cgi"), `printf 'Content-Type: text/plain\r\n\r\n'
env | sort
`)
	s := startServer(t, "--cgidir="+filepath.Join(dir, "cgi"), "env")
	header := http.Header{
		"X-Remote-User": {"alice"},
		"X-Remote.User": {"admin"},
		"X_Remote_User": {"root"},
	}
	check := func(what string, env map[string]string) {
		t.Helper()
		if got := env["HTTP_X_REMOTE_USER"]; got != "alice" {
			t.Errorf("%s: HTTP_X_REMOTE_USER=%q, want alice", what, got)
		}
	}
	c := dialOpts(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: header})
	check("session", readEnv(t, c))
	res, body := httpRequest(t, nil, "GET", s.HTTPURL("/env.cgi"), header)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("CGI: %d %q", res.StatusCode, body)
	}
	check("CGI", parseEnv(strings.Split(body, "\n")))
}

// forgedForwarding are a client's own forwarding headers, claiming another
// address and HTTPS.
var forgedForwarding = http.Header{
	"Forwarded":         {"for=6.6.6.6;proto=https"},
	"X-Forwarded-For":   {"6.6.6.6"},
	"X-Real-Ip":         {"6.6.6.6"},
	"X-Forwarded-Proto": {"https"},
}

// proxiedEnv dials ws://front/ from 127.0.0.5 with the forged headers and
// returns the environment examples/env.sh printed.
func proxiedEnv(t *testing.T, front string) map[string]string {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	c, _, err := tryDial(t, "ws://"+front+"/", &websocket.DialOptions{HTTPClient: client, HTTPHeader: forgedForwarding})
	if err != nil {
		t.Fatalf("dial through the proxy: %v", err)
	}
	return readEnv(t, c)
}

// TestHardenForgedProxyHeaders: through the shipped nginx config (and the
// HAProxy one where haproxy is installed), a client's own Forwarded,
// X-Forwarded-For, X-Real-IP and X-Forwarded-Proto never give the program
// its REMOTE_ADDR or HTTPS=on, whichever header --trusted-proxy-header
// names. The client dials from 127.0.0.5; the proxy reaches wsbridge from
// 127.0.0.1.
func TestHardenForgedProxyHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, want string
	}{
		{"", "127.0.0.5"}, // the default, x-forwarded-for
		{"x-forwarded-for", "127.0.0.5"},
		{"x-real-ip", "127.0.0.5"},
		// Neither example sets Forwarded (both remove the client's): the
		// peer's own address stands.
		{"forwarded", "127.0.0.1"},
	}
	proxies := []struct {
		name  string
		start func(t *testing.T, upstream string) string
	}{
		{"nginx", startNginx},
		{"haproxy", startHAProxy},
	}
	for _, p := range proxies {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.header, func(t *testing.T) {
				t.Parallel()
				args := []string{"--trusted-proxy=127.0.0.1/32"}
				if tt.header != "" {
					args = append(args, "--trusted-proxy-header="+tt.header)
				}
				s := startServer(t, append(args, filepath.Join("examples", "env.sh"))...)
				env := proxiedEnv(t, p.start(t, s.addr))
				if env["REMOTE_ADDR"] != tt.want {
					t.Errorf("REMOTE_ADDR=%q, want %q", env["REMOTE_ADDR"], tt.want)
				}
				if https, ok := env["HTTPS"]; ok {
					t.Errorf("HTTPS=%q: the client's forged protocol was believed", https)
				}
			})
		}
	}
}

// startHAProxy runs haproxy in the foreground with
// examples/haproxy/wsbridge.cfg proxying to upstream, and returns the
// address it listens on.
func startHAProxy(t *testing.T, upstream string) string {
	t.Helper()
	haproxy := need(t, "haproxy", "reverse proxy test")
	example, err := os.ReadFile(filepath.Join("examples", "haproxy", "wsbridge.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := string(example)
	for old, repl := range map[string]string{
		"server a 127.0.0.1:8080 check port 9180": "server a " + upstream, // no metrics listener here
		"bind :8082": "bind " + listen,
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("examples/haproxy/wsbridge.cfg has no %q to substitute", old)
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	path := writeFile(t, filepath.Join(t.TempDir(), "haproxy.cfg"), cfg, 0o644)
	if out, err := exec.Command(haproxy, "-c", "-q", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	p := startProgram(t, nil, haproxy, "-db", "-f", path)
	p.waitDial(t, "tcp", listen)
	return listen
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (Linux answers on all of 127.0.0.0/8).
func clientFrom(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{
		Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true},
		Timeout:   30 * time.Second,
	}
}

// basicAuth is the Authorization header of user and password.
func basicAuth(user, password string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}}
}

// TestHardenLoginThrottle: the 11th wrong password within a minute from
// one address gets 429 with Retry-After, and no credential check; a valid
// user from another address still gets in, and a bcrypt credential that
// was verified once is not verified again (its second request is fast).
func TestHardenLoginThrottle(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), 12)
	if err != nil {
		t.Fatal(err)
	}
	creds := writeFile(t, filepath.Join(t.TempDir(), "users"), "carol:"+string(hash)+"\n", 0o600)
	s := startServer(t, "--credential=alice:wonderland", "--credential-file="+creds, "cat")

	attacker := clientFrom("127.0.0.1")
	for i := range 10 {
		res, _ := httpRequest(t, attacker, "GET", s.HTTPURL("/"), basicAuth("alice", fmt.Sprint("guess", i)))
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	res, _ := httpRequest(t, attacker, "GET", s.HTTPURL("/"), basicAuth("alice", "guess"))
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("11th wrong password: %d, want 429", res.StatusCode)
	}
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After %q, want 1-60 seconds", res.Header.Get("Retry-After"))
	}
	s.waitLog(t, 5*time.Second, "too many failed logins")

	// A valid user from another address gets its session.
	upgrade := func(from, user, password string) (time.Duration, error) {
		start := time.Now()
		c, _, err := tryDial(t, s.URL("/"), &websocket.DialOptions{HTTPClient: clientFrom(from), HTTPHeader: basicAuth(user, password)})
		took := time.Since(start)
		if err != nil {
			return took, err
		}
		defer c.CloseNow()
		if got := echo(t, c, "hi"); got != "hi" {
			return took, fmt.Errorf("echo %q", got)
		}
		return took, nil
	}
	if _, err := upgrade("127.0.0.2", "alice", "wonderland"); err != nil {
		t.Errorf("valid user from 127.0.0.2: %v", err)
	}
	first, err := upgrade("127.0.0.3", "carol", "s3cret")
	if err != nil {
		t.Fatalf("bcrypt user: %v", err)
	}
	second, err := upgrade("127.0.0.3", "carol", "s3cret")
	if err != nil {
		t.Fatalf("bcrypt user again: %v", err)
	}
	t.Logf("bcrypt user: first upgrade %v, second %v", first, second)
	if second > first/3 {
		t.Errorf("second upgrade took %v, first %v: the verified password was checked again", second, first)
	}
}
