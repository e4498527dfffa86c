package main_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"
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
