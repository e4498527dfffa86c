package main_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// svcNginx runs Debian's nginx in the foreground with examples/nginx/wsbridge.conf
// proxying to upstream, and returns the address it listens on.
func svcNginx(t *testing.T, upstream string) string {
	t.Helper()
	nginx := svcNeed(t, "nginx", "reverse proxy test")
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("examples", "nginx", "wsbridge.conf"))
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", svcFreePort(t))
	site := string(example)
	for old, repl := range map[string]string{
		"server 127.0.0.1:8080": "server " + upstream,
		"listen 80;":            "listen " + listen + ";",
	} {
		if !strings.Contains(site, old) {
			t.Fatalf("examples/nginx/wsbridge.conf has no %q to substitute", old)
		}
		site = strings.Replace(site, old, repl, 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "wsbridge.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
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
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	p := svcStartCmd(t, svcOpts{path: nginx}, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen on %s: %v\n%s\n%s", listen, err, p.output(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return listen
}

// TestSvcNginx: a real session through nginx configured by the example:
// upgrade, messages both ways, the child's exit status as the close code,
// and the client's own address as REMOTE_ADDR when wsbridge trusts nginx.
func TestSvcNginx(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := svcScript(t, dir, "once.sh", `echo "addr=$REMOTE_ADDR https=$HTTPS"
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
			args := append([]string{"--address=127.0.0.1", fmt.Sprintf("--port=%d", svcFreePort(t))}, tt.args...)
			_, upstream := svcStart(t, svcOpts{}, append(args, script)...)
			front := svcNginx(t, upstream)

			dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
			client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, "ws://"+front+"/", &websocket.DialOptions{HTTPClient: client})
			if err != nil {
				t.Fatalf("dial through nginx: %v", err)
			}
			defer c.CloseNow()
			if resp.Header.Get("Server") == "" || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
				t.Errorf("not answered by nginx: Server %q", resp.Header.Get("Server"))
			}
			_, msg, err := c.Read(ctx)
			if err != nil || string(msg) != tt.want {
				t.Errorf("first message %q, %v; want %q", msg, err, tt.want)
			}
			if got := svcEcho(t, c, "through nginx"); got != "got through nginx" {
				t.Errorf("echo %q", got)
			}
			_, _, err = c.Read(ctx)
			if code := websocket.CloseStatus(err); code != 4003 {
				t.Errorf("ended with %v, want close 4003 (exit status 3) through nginx", err)
			}
		})
	}
}
