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

// startNginx runs Debian's nginx in the foreground with examples/nginx/wsbridge.conf
// proxying to upstream, and returns the address it listens on.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	nginx := need(t, "nginx", "reverse proxy test")
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("examples", "nginx", "wsbridge.conf"))
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	site := string(example)
	for old, repl := range map[string]string{
		"server 127.0.0.1:8080": "server " + upstream,
		"listen 8081;":            "listen " + listen + ";",
	} {
		if !strings.Contains(site, old) {
			t.Fatalf("examples/nginx/wsbridge.conf has no %q to substitute", old)
		}
		site = strings.Replace(site, old, repl, 1)
	}
	writeFile(t, filepath.Join(dir, "wsbridge.conf"), site, 0o644)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the 0700 temp dir
	}
	conf := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	include %[2]s/wsbridge.conf;
}
`, user, dir)
	confPath := writeFile(t, filepath.Join(dir, "nginx.conf"), conf, 0o644)
	if out, err := exec.Command(nginx, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", log)
		}
	})
	p := startProgram(t, nil, nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	p.waitDial(t, "tcp", listen)
	return listen
}

// TestSvcNginx: a real session through nginx configured by the example:
// upgrade, messages both ways, the child's exit status as the close code,
// and the client's own address as REMOTE_ADDR when wsbridge trusts nginx.
func TestSvcNginx(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := writeScript(t, filepath.Join(dir, "once.sh"), `echo "addr=$REMOTE_ADDR https=$HTTPS"
read line
echo "got $line"
exit 3
`)
	tests := []struct {
		name string
		args []string
		want string
	}{
		// The client dials nginx from 127.0.0.5; nginx reaches wsbridge
		// from 127.0.0.1.
		{"trusted proxy", []string{"--trusted-proxy=127.0.0.1/32"}, "addr=127.0.0.5 https="},
		{"proxy not trusted", nil, "addr=127.0.0.1 https="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			front := startNginx(t, startServer(t, append(tt.args, script)...).addr)

			dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
			client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
			c, resp, err := tryDial(t, "ws://"+front+"/", &websocket.DialOptions{HTTPClient: client})
			if err != nil {
				t.Fatalf("dial through nginx: %v", err)
			}
			if resp.Header.Get("Server") == "" || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
				t.Errorf("not answered by nginx: Server %q", resp.Header.Get("Server"))
			}
			_, msg, err := readWithTimeout(c)
			if err != nil || string(msg) != tt.want {
				t.Errorf("first message %q, %v; want %q", msg, err, tt.want)
			}
			if got := echo(t, c, "through nginx"); got != "got through nginx" {
				t.Errorf("echo %q", got)
			}
			_, _, err = readWithTimeout(c)
			if code := websocket.CloseStatus(err); code != 4003 {
				t.Errorf("ended with %v, want close 4003 (exit status 3) through nginx", err)
			}
		})
	}
}
