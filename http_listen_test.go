package main_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// hUnixClient talks HTTP over the unix socket at path.
func hUnixClient(path string) *http.Client {
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

// hSocketPath is a short socket path (sun_path holds ~108 bytes; test temp
// dirs can be long).
func hSocketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wsb-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

func TestHTTPUnixSocket(t *testing.T) {
	t.Parallel()
	sock := hSocketPath(t)
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

	s := hStartRaw(t, "--unixsocket="+sock, "env")
	s.waitDial(t, "unix", sock)
	c := hMustDial(t, "ws://wsbridge/chat?x=1", &websocket.DialOptions{HTTPClient: hUnixClient(sock)})
	env := hEnv(t, c)
	if env["REMOTE_ADDR"] != "unix-socket" || env["PATH_INFO"] != "/chat" || env["QUERY_STRING"] != "x=1" {
		t.Errorf("REMOTE_ADDR=%q PATH_INFO=%q QUERY_STRING=%q", env["REMOTE_ADDR"], env["PATH_INFO"], env["QUERY_STRING"])
	}
	// Alone: no TCP listener was opened.
	if strings.Count(s.Log.String(), "msg=listening") != 1 {
		t.Errorf("want only the socket listening:\n%s", s.Log)
	}

	// A live socket is not taken over.
	code, out := hRun(t, "--unixsocket="+sock, "cat")
	if code != 3 || !strings.Contains(out, "listening there already") {
		t.Errorf("second server on a live socket: exit %d %q, want 3", code, out)
	}
	// Nor is a file that is not a socket.
	file := hFile(t, filepath.Join(t.TempDir(), "f"), "data", 0o644)
	code, out = hRun(t, "--unixsocket="+file, "cat")
	if code != 3 || !strings.Contains(out, "not a socket") {
		t.Errorf("regular file: exit %d %q, want 3", code, out)
	}
	if b, _ := os.ReadFile(file); string(b) != "data" {
		t.Error("the regular file was touched")
	}
}

func TestHTTPUnixSocketBesideTCP(t *testing.T) {
	t.Parallel()
	sock := hSocketPath(t)
	s := hStart(t, "--unixsocket="+sock, "cat")
	s.waitDial(t, "unix", sock)
	hEcho(t, hMustDial(t, "ws://wsbridge/", &websocket.DialOptions{HTTPClient: hUnixClient(sock)}), "via socket")
	hEcho(t, hMustDial(t, s.WS+"/", nil), "via tcp")
	if !strings.Contains(s.Log.String(), "127.0.0.1:"+strconv.Itoa(s.Port)) {
		t.Errorf("TCP listener missing:\n%s", s.Log)
	}
}
