package main_test

// Clients and other helpers shared by the end-to-end tests; harness_test.go
// runs the processes.

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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"
)

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
	if errors.Is(unix.Kill(-pgid, 0), unix.ESRCH) {
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
	skipUnlessCI(t, fmt.Sprintf("%s not found (%s; on Debian: apt-get install -y %s)", name, why, pkg))
	return ""
}

// skipUnlessCI skips the test for want of msg, or fails it under CI.
func skipUnlessCI(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
