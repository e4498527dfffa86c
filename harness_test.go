package main_test

import (
	"bufio"
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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The end-to-end tests run the real binary, built once per test run, the
// way a user, systemd or nginx would. This file starts and watches
// processes, and has the clients and the other shared helpers.

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopTopologies()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	reportSkips()
	os.Exit(code)
}

// skips counts the tests skipped for want of a tool, by what is missing, so
// that TestMain can list them even without -v.
var skips struct {
	sync.Mutex
	count map[string]int
	order []string
}

// reportSkips prints one line per missing tool that skipped tests. `go
// test ./...` shows a passing package's output only with -v, so without it
// the lines go to the terminal, if there is one: that is where the person
// who would wonder why a browser test "passed" is looking.
func reportSkips() {
	skips.Lock()
	defer skips.Unlock()
	if len(skips.order) == 0 {
		return
	}
	var w io.Writer = os.Stderr
	if !testing.Verbose() {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		}
	}
	for _, what := range skips.order {
		fmt.Fprintf(w, "SKIP %d test(s) of github.com/wsbridge/wsbridge: %s\n", skips.count[what], what)
	}
}

// wsbridgeBinary builds wsbridge once per test run, with -race and
// -tags portable when the tests run with them, into a temp dir that
// TestMain removes.
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
		if portableBuild {
			args = append(args, "-tags", "portable")
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

// Clients and other helpers shared by the end-to-end tests.

// testTimeout bounds each client operation so a hung test fails instead of
// stalling the suite.
const testTimeout = 15 * time.Second

// freePort returns a loopback port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// shortTempDir is a temp dir with a short path, for unix sockets: sun_path
// holds ~108 bytes, and test temp dirs can be longer.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wsb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// --- WebSocket clients ---

func dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	return dialOpts(t, url, nil)
}

// dialOpts opens a WebSocket, failing the test on error. The connection has
// no read limit and is closed at cleanup.
func dialOpts(t testing.TB, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, res, err := tryDial(t, url, opts)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	return c
}

// tryDial is dialOpts returning the error and the handshake's response.
func tryDial(t testing.TB, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, res, err := websocket.Dial(ctx, url, opts)
	if err == nil {
		c.SetReadLimit(-1)
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, res, err
}

// dialStatus dials expecting a refusal and returns its HTTP status.
func dialStatus(t testing.TB, url string, opts *websocket.DialOptions) int {
	t.Helper()
	_, res, err := tryDial(t, url, opts)
	if err == nil {
		t.Fatalf("dial %s: accepted, want a refusal", url)
	}
	if res == nil {
		t.Fatalf("dial %s: %v, no HTTP response", url, err)
	}
	return res.StatusCode
}

// rawHandshake opens a WebSocket at the TCP level and returns the connection
// right after the 101, for tests of clients that misbehave (never read, never
// answer pings).
func rawHandshake(t testing.TB, addr, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return conn
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
	// An expired context closes the connection: only in a failing test.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// echo sends msg and returns the next message.
func echo(t testing.TB, c *websocket.Conn, msg string) string {
	t.Helper()
	writeText(t, c, msg)
	_, b := readMsg(t, c)
	return string(b)
}

// expectEcho sends msg and expects it back.
func expectEcho(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	if got := echo(t, c, msg); got != msg {
		t.Fatalf("echo %q, want %q", got, msg)
	}
}

// readEnv reads a child's `env` output, until the connection closes, into a
// map.
func readEnv(t testing.TB, c *websocket.Conn) map[string]string {
	t.Helper()
	msgs, _, _ := readUntilClose(t, c)
	return parseEnv(msgs)
}

// parseEnv maps the VAR=value lines of lines; it skips other lines.
func parseEnv(lines []string) map[string]string {
	env := map[string]string{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env
}

// --- HTTP clients ---

// httpClient is an HTTP client that does not follow redirects, for TLS
// with the given roots (nil: the system's) and client certificates.
func httpClient(tlsConfig *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true}
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpRequest does one request (with httpClient(nil) when c is nil) and
// returns the response with its body read.
func httpRequest(t testing.TB, c *http.Client, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	if c == nil {
		c = httpClient(nil)
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

// --- files ---

// script writes an executable shell script into a temp dir and returns its
// path.
func script(t testing.TB, body string) string {
	t.Helper()
	return writeScript(t, filepath.Join(t.TempDir(), "script.sh"), body)
}

// writeScript writes an executable shell script at path, making its folder.
func writeScript(t testing.TB, path, body string) string {
	t.Helper()
	return writeFile(t, path, "#!/bin/sh\n"+body, 0o755)
}

// writeFile writes a file at path, making its folder.
func writeFile(t testing.TB, path, body string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// --- processes, from /proc ---

// procStat returns the fields of /proc/PID/stat after the command name:
// state, ppid, pgrp, ...
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name, in parentheses, may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, nil
	}
	return strings.Fields(string(b[i+1:])), nil
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	f, err := procStat(pid)
	if err != nil {
		return false
	}
	return len(f) == 0 || f[0] != "Z"
}

// procState is pid's state letter (S, R, D, Z...), or "gone".
func procState(pid int) string {
	f, err := procStat(pid)
	if err != nil {
		return "gone"
	}
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// groupGone reports whether no live process of the group remains.
// Zombies count as gone: orphans wait for init to reap them, which in some
// containers takes a second or more, and they run no code.
func groupGone(pgid int) bool {
	if groupEmpty(pgid) {
		return true
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		f, err := procStat(pid)
		if err == nil && len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return false
		}
	}
	return true
}

// rss is pid's resident memory in bytes.
func rss(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// --- outside programs ---

// need finds an outside program the test needs. Without it the test is
// skipped, except under CI, where its absence is a failure.
func need(t testing.TB, name, why string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	pkg := name
	switch name {
	case "systemd-socket-activate", "systemd-analyze":
		pkg = "systemd"
	case "node":
		pkg = "nodejs"
	}
	skipGroupUnlessCI(t, fmt.Sprintf("%s not found (on Debian: apt-get install -y %s)", name, pkg), "; needed for "+why)
	return ""
}

// skipUnlessCI skips the test for want of msg, or fails it under CI.
func skipUnlessCI(t testing.TB, msg string) {
	t.Helper()
	skipGroupUnlessCI(t, msg, "")
}

// skipGroupUnlessCI skips the test for want of what (counted under it for
// reportSkips), saying detail too, or fails it under CI.
func skipGroupUnlessCI(t testing.TB, what, detail string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(what + detail)
	}
	skips.Lock()
	if skips.count == nil {
		skips.count = map[string]int{}
	}
	if skips.count[what] == 0 {
		skips.order = append(skips.order, what)
	}
	skips.count[what]++
	skips.Unlock()
	t.Skip(what + detail)
}
