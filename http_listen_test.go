package main_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// unixClient talks HTTP over the unix socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}

func TestHTTPUnixSocket(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(shortTempDir(t), "s")
	// A stale socket file from a server that is gone is replaced.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}

	s := startDaemon(t, nil, "--unixsocket="+sock, "env")
	c := dialOpts(t, "ws://wsbridge/chat?x=1", &websocket.DialOptions{HTTPClient: unixClient(sock)})
	env := readEnv(t, c)
	if env["REMOTE_ADDR"] != "unix-socket" || env["PATH_INFO"] != "/chat" || env["QUERY_STRING"] != "x=1" {
		t.Errorf("REMOTE_ADDR=%q PATH_INFO=%q QUERY_STRING=%q", env["REMOTE_ADDR"], env["PATH_INFO"], env["QUERY_STRING"])
	}
	// Alone: no TCP listener was opened.
	if strings.Count(s.Stderr(), "msg=listening") != 1 {
		t.Errorf("want only the socket listening:\n%s", s.Stderr())
	}

	// A live socket is not taken over.
	code, out := runWsbridge(t, nil, "--unixsocket="+sock, "cat")
	if code != 3 || !strings.Contains(out, "listening there already") {
		t.Errorf("second server on a live socket: exit %d %q, want 3", code, out)
	}
	// Nor is a file that is not a socket.
	file := writeFile(t, filepath.Join(t.TempDir(), "f"), "data", 0o644)
	code, out = runWsbridge(t, nil, "--unixsocket="+file, "cat")
	if code != 3 || !strings.Contains(out, "not a socket") {
		t.Errorf("regular file: exit %d %q, want 3", code, out)
	}
	if b, _ := os.ReadFile(file); string(b) != "data" {
		t.Error("the regular file was touched")
	}
}

func TestHTTPUnixSocketBesideTCP(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(shortTempDir(t), "s")
	s := startServer(t, "--unixsocket="+sock, "cat")
	s.waitDial(t, "unix", sock)
	expectEcho(t, dialOpts(t, "ws://wsbridge/", &websocket.DialOptions{HTTPClient: unixClient(sock)}), "via socket")
	expectEcho(t, dialOpts(t, s.URL("/"), nil), "via tcp")
	if !strings.Contains(s.Stderr(), s.addr) {
		t.Errorf("TCP listener missing:\n%s", s.Stderr())
	}
}
