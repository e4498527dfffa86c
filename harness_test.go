package main_test

// The end-to-end tests run the real binary, built once per test run, the
// way a user, systemd or nginx would. This file starts and watches
// processes; helpers_test.go has the clients and the other shared helpers.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// wsbridgeBinary builds wsbridge once per test run, with -race when the
// tests run with it, into a temp dir that TestMain removes.
func wsbridgeBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "wsbridge-e2e-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "wsbridge")
		args := []string{"build", "-o", build.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// server is a running wsbridge, or another program (nginx,
// systemd-socket-activate, websocketd), with its stdout and stderr captured
// together. It is stopped with SIGTERM at cleanup, and its output is logged
// if the test failed.
type server struct {
	cmd  *exec.Cmd
	addr string // where wsbridge listens: HOST:PORT, or a unix socket's path
	tls  bool   // started with --ssl: URL gives wss://, HTTPURL https://

	exited chan struct{} // closed once the process has exited
	err    error         // from Wait, once exited is closed

	mu   sync.Mutex
	out  strings.Builder
	wake chan struct{} // closed and replaced on every new line of output
}

// startServer runs wsbridge --address=127.0.0.1 --port=<free> args... and
// waits until it accepts connections.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	return startOnFreePort(t, nil, "", args...)
}

// startServerEnv is startServer with env added to the daemon's environment.
func startServerEnv(t testing.TB, env []string, args ...string) *server {
	t.Helper()
	return startOnFreePort(t, env, "", args...)
}

// startOnFreePort runs path (wsbridge when "", or websocketd, which takes
// the same flags) on a free loopback port and waits until it accepts
// connections.
func startOnFreePort(t testing.TB, env []string, path string, args ...string) *server {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	_, port, _ := net.SplitHostPort(addr)
	s := startProgram(t, env, path, append([]string{"--address=127.0.0.1", "--port=" + port}, args...)...)
	s.addr = addr
	s.waitDial(t, "tcp", addr)
	return s
}

// listeningRE matches wsbridge's "listening" log line, text or JSON.
var listeningRE = regexp.MustCompile(`msg=listening address=(\S+)|"msg":"listening","address":"([^"]+)"`)

// startDaemon runs wsbridge with exactly args, for listeners that the
// arguments, the environment or a config file choose (--unixsocket,
// --config, WSBRIDGE_PORT), and waits for its first "listening" log line.
// s.addr is the address that line names.
func startDaemon(t testing.TB, env []string, args ...string) *server {
	t.Helper()
	s := startProgram(t, env, "", args...)
	m := s.match(20*time.Second, listeningRE)
	if m == nil {
		t.Fatalf("wsbridge %q did not start listening:\n%s", args, s.Stderr())
	}
	s.addr = m[1] + m[2]
	return s
}

// runWsbridge runs wsbridge with exactly args, expecting it to exit by
// itself (a startup error), and returns its exit status and output.
func runWsbridge(t testing.TB, env []string, args ...string) (int, string) {
	t.Helper()
	s := startProgram(t, env, "", args...)
	return s.exitCode(t, testTimeout), s.Stderr()
}

// startProgram runs path (the wsbridge binary when "") with exactly args,
// in a minimal environment (PATH, HOME in a temp dir, and GORACE if set)
// plus env, and returns at once.
func startProgram(t testing.TB, env []string, path string, args ...string) *server {
	t.Helper()
	if path == "" {
		path = wsbridgeBinary(t)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if v, ok := os.LookupEnv("GORACE"); ok {
		cmd.Env = append(cmd.Env, "GORACE="+v)
	}
	cmd.Env = append(cmd.Env, env...)
	s := &server{cmd: cmd, exited: make(chan struct{}), wake: make(chan struct{})}
	for _, a := range args {
		if a == "--ssl" {
			s.tls = true
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.addLine(sc.Text())
		}
		if err := sc.Err(); err != nil {
			s.addLine("[harness: output no longer captured: " + err.Error() + "]")
			io.Copy(io.Discard, pr) // never block the process on a full pipe
		}
	}()
	go func() {
		s.err = cmd.Wait()
		// A grandchild may hold the pipe open; the output that matters is
		// in by now.
		select {
		case <-read:
		case <-time.After(2 * time.Second):
		}
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("output of %s %q:\n%s", filepath.Base(path), args, s.Stderr())
		}
	})
	return s
}

func (s *server) addLine(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.WriteString(line + "\n")
	close(s.wake)
	s.wake = make(chan struct{})
}

// stop ends the process with SIGTERM, and kills it if it is still there
// 15 s later, which fails the test. It does nothing once the process has
// exited.
func (s *server) stop(t testing.TB) {
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
		t.Errorf("%s did not exit within 15s of SIGTERM\n%s", filepath.Base(s.cmd.Path), s.Stderr())
	}
}

func (s *server) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// exitCode waits for the process to end and returns its exit status (-1
// when a signal ended it).
func (s *server) exitCode(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(timeout):
		t.Fatalf("still running after %v:\n%s", timeout, s.Stderr())
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	return 0
}

// URL is a WebSocket URL (wss with --ssl) for path on s.addr.
func (s *server) URL(path string) string {
	if s.tls {
		return "wss://" + s.addr + path
	}
	return "ws://" + s.addr + path
}

// HTTPURL is an HTTP URL (https with --ssl) for path on s.addr.
func (s *server) HTTPURL(path string) string {
	if s.tls {
		return "https://" + s.addr + path
	}
	return "http://" + s.addr + path
}

// Stderr is the process's output so far: its log, which wsbridge writes to
// stderr, and stdout.
func (s *server) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// await waits until cond holds for the output so far, checking again on
// every new line. It reports false when timeout passes, or the process
// exits, before cond holds.
func (s *server) await(timeout time.Duration, cond func(out string) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		out, wake := s.out.String(), s.wake
		s.mu.Unlock()
		if cond(out) {
			return true
		}
		select {
		case <-wake:
		case <-s.exited:
			return cond(s.Stderr())
		case <-deadline.C:
			return false
		}
	}
}

// waitLog waits for a line of output containing every one of parts, and
// returns it.
func (s *server) waitLog(t testing.TB, timeout time.Duration, parts ...string) string {
	t.Helper()
	var found string
	ok := s.await(timeout, func(out string) bool {
		for _, line := range strings.Split(out, "\n") {
			if containsAll(line, parts) {
				found = line
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no log line with %q within %v:\n%s", parts, timeout, s.Stderr())
	}
	return found
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// match waits until the output matches re and returns the submatches, or
// nil on timeout or exit.
func (s *server) match(timeout time.Duration, re *regexp.Regexp) []string {
	var m []string
	s.await(timeout, func(out string) bool {
		m = re.FindStringSubmatch(out)
		return m != nil
	})
	return m
}

// waitDial waits until addr accepts a connection, failing the test if the
// process exits first.
func (s *server) waitDial(t testing.TB, network, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.exited:
			t.Fatalf("%s exited (%v) before listening on %s %s:\n%s", filepath.Base(s.cmd.Path), s.err, network, addr, s.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s %s:\n%s", filepath.Base(s.cmd.Path), network, addr, s.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
