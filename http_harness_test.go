package main_test

// A small harness for the HTTP server's end-to-end tests: the real binary,
// built once, started per test on a free loopback port. Names carry an h
// prefix so they cannot clash with other test helpers of this package.

import (
	"bytes"
	"context"
	"crypto/tls"
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
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var hBuild struct {
	once sync.Once
	path string
	err  error
}

// hBinary builds wsbridge once per test run.
func hBinary(t *testing.T) string {
	t.Helper()
	hBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "wsbridge-http-test-")
		if err != nil {
			hBuild.err = err
			return
		}
		hBuild.path = filepath.Join(dir, "wsbridge")
		out, err := exec.Command("go", "build", "-o", hBuild.path, ".").CombinedOutput()
		if err != nil {
			hBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if hBuild.err != nil {
		t.Fatal(hBuild.err)
	}
	return hBuild.path
}

// hSyncBuffer collects the daemon's log.
type hSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *hSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *hSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hServer is a running wsbridge.
type hServer struct {
	Port int
	URL  string // http://127.0.0.1:PORT (https with --ssl)
	WS   string // ws://127.0.0.1:PORT (wss with --ssl)
	Log  *hSyncBuffer
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// hFreePort finds a loopback port nobody listens on.
func hFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hStart runs wsbridge --address=127.0.0.1 --port=<free> args... and waits
// until it accepts connections. It is stopped with SIGTERM at cleanup.
func hStart(t *testing.T, args ...string) *hServer {
	t.Helper()
	port := hFreePort(t)
	s := hStartRaw(t, append([]string{"--address=127.0.0.1", "--port=" + strconv.Itoa(port)}, args...)...)
	s.Port = port
	scheme, wsScheme := "http", "ws"
	for _, a := range args {
		if a == "--ssl" {
			scheme, wsScheme = "https", "wss"
		}
	}
	s.URL = scheme + "://127.0.0.1:" + strconv.Itoa(port)
	s.WS = wsScheme + "://127.0.0.1:" + strconv.Itoa(port)
	s.waitDial(t, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	return s
}

// hStartRaw runs wsbridge with exactly args; the caller waits for it.
func hStartRaw(t *testing.T, args ...string) *hServer {
	t.Helper()
	s := &hServer{Log: &hSyncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(hBinary(t), args...)
	s.cmd.Stdout = s.Log
	s.cmd.Stderr = s.Log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
			t.Errorf("wsbridge did not stop on SIGTERM; log:\n%s", s.Log)
		}
		if t.Failed() {
			t.Logf("wsbridge log:\n%s", s.Log)
		}
	})
	return s
}

// waitDial waits until addr accepts a connection, or fails the test if the
// daemon exits first.
func (s *hServer) waitDial(t *testing.T, network, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("wsbridge exited (%v) before listening; log:\n%s", s.err, s.Log)
		default:
		}
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("wsbridge not listening on %s %s; log:\n%s", network, addr, s.Log)
}

// hRun runs wsbridge expecting it to exit by itself (a startup error) and
// returns its exit status and output.
func hRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, hBinary(t), args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	default:
		t.Fatalf("run wsbridge: %v\n%s", err, out)
		return -1, ""
	}
}

// hClient is an HTTP client that does not follow redirects, for TLS with
// the given roots (nil: the system's) and client certificates.
func hClient(tlsConfig *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true}
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hGet does one request and returns the response with its body read.
func hGet(t *testing.T, c *http.Client, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	if c == nil {
		c = hClient(nil)
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return res, string(body)
}

// hDial opens a WebSocket; the connection is closed at cleanup.
func hDial(t *testing.T, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, url, opts)
	if err == nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, res, err
}

// hMustDial is hDial failing the test on error.
func hMustDial(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, res, err := hDial(t, url, opts)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	return c
}

// hDialStatus dials expecting a refusal and returns its HTTP status.
func hDialStatus(t *testing.T, url string, opts *websocket.DialOptions) int {
	t.Helper()
	_, res, err := hDial(t, url, opts)
	if err == nil {
		t.Fatalf("dial %s: accepted, want a refusal", url)
	}
	if res == nil {
		t.Fatalf("dial %s: %v, no HTTP response", url, err)
	}
	return res.StatusCode
}

// hReadAll reads text messages until the server closes, and returns them
// with the close status.
func hReadAll(t *testing.T, c *websocket.Conn) ([]string, websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var msgs []string
	for {
		_, p, err := c.Read(ctx)
		if err != nil {
			return msgs, websocket.CloseStatus(err)
		}
		msgs = append(msgs, string(p))
	}
}

// hEnv reads a child's `env` output into a map.
func hEnv(t *testing.T, c *websocket.Conn) map[string]string {
	t.Helper()
	msgs, _ := hReadAll(t, c)
	env := map[string]string{}
	for _, m := range msgs {
		if k, v, ok := strings.Cut(m, "="); ok {
			env[k] = v
		}
	}
	return env
}

// hEcho sends msg and expects it back.
func hEcho(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, p, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(p) != msg {
		t.Fatalf("echo %q, want %q", p, msg)
	}
}

// hScript writes an executable shell script.
func hScript(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// hFile writes a plain file.
func hFile(t *testing.T, path, body string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return path
}
