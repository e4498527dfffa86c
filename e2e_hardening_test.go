package main_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	// Cost 11: a check takes a good fraction of a second, so a cached
	// success stands out, and startup (which makes a hash of that cost for
	// unknown users) stays quick on a loaded machine.
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), 11)
	if err != nil {
		t.Fatal(err)
	}
	creds := writeFile(t, filepath.Join(t.TempDir(), "users"), "carol:"+string(hash)+"\n", 0o600)
	// Plain passwords for the failures: with a bcrypt credential, each
	// failure costs a bcrypt check too (unknown users alike), and on a
	// loaded machine ten of them could outlast the minute.
	s := startServer(t, "--credential=alice:wonderland", "cat")
	hashed := startServer(t, "--credential-file="+creds, "cat")

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
	upgrade := func(s *server, from, user, password string) (time.Duration, error) {
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
	if _, err := upgrade(s, "127.0.0.2", "alice", "wonderland"); err != nil {
		t.Errorf("valid user from 127.0.0.2: %v", err)
	}
	first, err := upgrade(hashed, "127.0.0.3", "carol", "s3cret")
	if err != nil {
		t.Fatalf("bcrypt user: %v", err)
	}
	// The fastest of three more, so one slow moment of a loaded machine
	// does not count.
	var again time.Duration
	for i := range 3 {
		took, err := upgrade(hashed, "127.0.0.3", "carol", "s3cret")
		if err != nil {
			t.Fatalf("bcrypt user again: %v", err)
		}
		if i == 0 || took < again {
			again = took
		}
	}
	t.Logf("bcrypt user: first upgrade %v, fastest of three more %v", first, again)
	if again > first/3 {
		t.Errorf("upgrades again took %v, the first %v: the verified password was checked again", again, first)
	}
}

// rawGet sends a GET on c and reads the response head, leaving c open
// (keep-alive).
func rawGet(t *testing.T, c net.Conn, r *bufio.Reader) *http.Response {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	c.SetDeadline(time.Time{})
	return res
}

// TestHardenConnsPerIP: keep-alive connections that only got 401s cannot
// pile up. With --max-conns-per-ip=3 the fourth connection from an address
// is answered 429 with Retry-After and closed; once one is closed, a valid
// client from that address gets its session; a connection idle for
// --idle-conn-timeout is closed by the server.
func TestHardenConnsPerIP(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--max-conns-per-ip=3", "--idle-conn-timeout=2s", "--credential=alice:wonderland", "cat")
	dialFrom := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for i := range 3 {
		c := dialFrom("127.0.0.1")
		if res := rawGet(t, c, bufio.NewReader(c)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("connection %d: %d, want 401", i+1, res.StatusCode)
		}
		held = append(held, c)
	}
	start := time.Now()
	extra := dialFrom("127.0.0.1")
	extra.SetDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatalf("4th connection: %v, want a 429", err)
	}
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("4th connection: %d Retry-After %q, want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Errorf("4th connection body: %v", err)
	}
	if n, err := extra.Read(make([]byte, 1)); err == nil {
		t.Errorf("4th connection left open (read %d bytes)", n)
	}
	t.Logf("refused in %v", time.Since(start))
	s.waitLog(t, 5*time.Second, "too many connections from this address")

	// Another address is not affected.
	if _, err := dialFromWS(s, "127.0.0.2"); err != nil {
		t.Errorf("valid client from 127.0.0.2: %v", err)
	}
	// A freed slot serves a valid client.
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := dialFromWS(s, "127.0.0.1")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("valid client after a connection closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The idle keep-alive connections are closed by the server.
	for i, c := range held[1:] {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("idle connection %d still open after --idle-conn-timeout: read %d, %v", i+2, n, err)
		}
	}
}

// dialFromWS runs one echo session as alice from the loopback address ip.
func dialFromWS(s *server, ip string) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.URL("/"), &websocket.DialOptions{HTTPClient: clientFrom(ip), HTTPHeader: basicAuth("alice", "wonderland")})
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		return 0, err
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
		return 0, fmt.Errorf("echo %q: %v", msg, err)
	}
	return time.Since(start), nil
}

// TestHardenSessionsPerClientBehindProxy: connections from a
// --trusted-proxy are not counted as one client; the sessions of each
// forwarded client address are, 429 before the upgrade beyond
// --max-conns-per-ip, and a session's end frees its place.
func TestHardenSessionsPerClientBehindProxy(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--max-conns-per-ip=2", "--trusted-proxy=127.0.0.1/32", "cat")
	from := func(client string) (*websocket.Conn, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, res, err := websocket.Dial(ctx, s.URL("/"), &websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {client}}})
		if err != nil {
			if res == nil {
				t.Fatalf("dial as %s: %v", client, err)
			}
			if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			return nil, res.StatusCode
		}
		t.Cleanup(func() { c.CloseNow() })
		return c, http.StatusSwitchingProtocols
	}
	a1, code1 := from("203.0.113.9")
	_, code2 := from("203.0.113.9")
	if code1 != 101 || code2 != 101 {
		t.Fatalf("first two sessions: %d %d", code1, code2)
	}
	if _, code := from("203.0.113.9"); code != http.StatusTooManyRequests {
		t.Errorf("third session of one client: %d, want 429", code)
	}
	// Other clients of the same proxy, past 2 connections from it.
	for _, other := range []string{"203.0.113.10", "2001:db8::1"} {
		if _, code := from(other); code != 101 {
			t.Errorf("session of %s: %d, want 101", other, code)
		}
	}
	if _, code := from("2001:db8::2"); code != 101 {
		t.Errorf("second session of the /64: %d, want 101", code)
	}
	if _, code := from("2001:db8::3"); code != http.StatusTooManyRequests {
		t.Errorf("third session of the /64: %d, want 429", code)
	}
	s.waitLog(t, 5*time.Second, "too many sessions from this address")
	a1.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, code := from("203.0.113.9"); code == 101 {
			expectEcho(t, c, "back")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed session's place was not freed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHardenCGITimeout: a CGI script waiting for a request body that
// trickles in, and one that never answers and ignores SIGINT and SIGTERM,
// get 504 after --cgi-timeout; the script's process group is ended by the
// kill sequence and its --maxforks slot is free again.
func TestHardenCGITimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cgi := filepath.Join(dir, "cgi")
	writeScript(t, filepath.Join(cgi, "trickle.cgi"), `echo $$ > `+filepath.Join(dir, "trickle.pid")+`
body=$(cat)
printf 'Content-Type: text/plain\r\n\r\n'
echo "got $body"
`)
	writeScript(t, filepath.Join(cgi, "stubborn.cgi"), `echo $$ > `+filepath.Join(dir, "stubborn.pid")+`
trap '' INT TERM
while :; do sleep 1; done
`)
	writeScript(t, filepath.Join(cgi, "hello.cgi"), `printf 'Content-Type: text/plain\r\n\r\n'
echo hello
`)
	s := startServer(t, "--cgidir="+cgi, "--maxforks=1", "--cgi-timeout=2s", "cat")

	pidOf := func(name string) int {
		t.Helper()
		var pid int
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			if pid, _ = strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 || time.Now().After(deadline) {
				return pid
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	freed := func(what string, pid int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/hello.cgi"), nil)
			if res.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: hello.cgi %d, want 200: the --maxforks slot was not freed", what, res.StatusCode)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if pid > 0 && !groupGone(pid) {
			t.Errorf("after %s: the script's process group %d is still there", what, pid)
		}
	}

	// A body that trickles in: 10 of 100 bytes, then one byte every 300ms.
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "POST /trickle.cgi HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	})
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("trickled body: %v after %v, want a 504", err, took)
	}
	t.Logf("trickled body: %d after %v", res.StatusCode, took)
	if res.StatusCode != http.StatusGatewayTimeout || took < 1500*time.Millisecond {
		t.Errorf("trickled body: %d after %v, want 504 after about 2s", res.StatusCode, took)
	}
	freed("the trickled body", pidOf("trickle.pid"))

	// A script that never answers and ignores SIGINT and SIGTERM.
	start = time.Now()
	res, _ = httpRequest(t, nil, "GET", s.HTTPURL("/stubborn.cgi"), nil)
	t.Logf("stubborn script: %d after %v", res.StatusCode, time.Since(start))
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("stubborn script: %d, want 504", res.StatusCode)
	}
	freed("the stubborn script", pidOf("stubborn.pid"))
	s.waitLog(t, 5*time.Second, "timed out before the script answered")
}
