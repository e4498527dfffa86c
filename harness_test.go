package main_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The end-to-end tests run the real binary, built once per test run.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func wsbridgeBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "wsbridge-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "wsbridge")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is a running wsbridge daemon.
type server struct {
	t    testing.TB
	cmd  *exec.Cmd
	addr string

	mu     sync.Mutex
	stderr bytes.Buffer
	lines  chan string
	exited chan struct{}
	err    error
}

// startServer runs wsbridge with args on a free loopback port and waits until
// it listens. It is stopped with SIGTERM at cleanup.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, args...)
}

func startServerEnv(t testing.TB, env []string, args ...string) *server {
	t.Helper()
	port := freePort(t)
	full := append([]string{"--address=127.0.0.1", fmt.Sprintf("--port=%d", port)}, args...)
	cmd := exec.Command(wsbridgeBinary(t), full...)
	cmd.Env = append(os.Environ(), env...)
	s := &server{t: t, cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port), lines: make(chan string, 1024), exited: make(chan struct{})}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("wsbridge %v exited early: %v\n%s", full, s.err, s.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("wsbridge did not listen on %s\n%s", s.addr, s.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("wsbridge did not exit within 15s of SIGTERM\n%s", s.Stderr())
	}
}

func (s *server) URL(path string) string     { return "ws://" + s.addr + path }
func (s *server) HTTPURL(path string) string { return "http://" + s.addr + path }

// Stderr is the daemon's log so far.
func (s *server) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// waitLog waits for a log line containing every one of parts.
func (s *server) waitLog(t testing.TB, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(s.Stderr(), "\n") {
			if containsAll(line, parts) {
				return line
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line with %q within %v:\n%s", parts, timeout, s.Stderr())
	return ""
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testTimeout bounds each client operation so a hung test fails instead of
// stalling the suite.
const testTimeout = 15 * time.Second

func dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	return dialOpts(t, url, nil)
}

func dialOpts(t testing.TB, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// readMsg reads one message, failing the test on error.
func readMsg(t testing.TB, c *websocket.Conn) (websocket.MessageType, []byte) {
	t.Helper()
	typ, b, err := readWithTimeout(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, b
}

func readText(t testing.TB, c *websocket.Conn) string {
	t.Helper()
	typ, b := readMsg(t, c)
	if typ != websocket.MessageText {
		t.Fatalf("got %v message %q, want text", typ, b)
	}
	return string(b)
}

// readWithTimeout reads one message. The timeout context is not passed to
// Read, which would close the connection when it expires; a timer closes it
// instead, only when the test is failing anyway.
func readWithTimeout(c *websocket.Conn) (websocket.MessageType, []byte, error) {
	timer := time.AfterFunc(testTimeout, func() { c.CloseNow() })
	defer timer.Stop()
	return c.Read(context.Background())
}

// readUntilClose reads text messages until the connection closes and returns
// them with the close status.
func readUntilClose(t testing.TB, c *websocket.Conn) ([]string, websocket.StatusCode, string) {
	t.Helper()
	var msgs []string
	for {
		_, b, err := readWithTimeout(c)
		if err != nil {
			code, reason := closeStatus(err)
			return msgs, code, reason
		}
		msgs = append(msgs, string(b))
	}
}

func closeStatus(err error) (websocket.StatusCode, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, err.Error()
}

func writeText(t testing.TB, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// script writes an executable shell script into a temp dir and returns its
// path.
func script(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
