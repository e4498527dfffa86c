package main_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The tests in the svc*_test.go files run the real binary, as systemd,
// nginx or an operator would.

var svcBuild struct {
	once sync.Once
	path string
	err  error
}

// svcBinary builds wsbridge once per test run. It goes to a fixed place in
// the temp dir (renamed into place, so concurrent runs do not clash), so
// nothing is left behind per run; go's build cache keeps rebuilds quick.
func svcBinary(t *testing.T) string {
	t.Helper()
	svcBuild.once.Do(func() {
		dir := filepath.Join(os.TempDir(), "wsbridge-svctest")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			svcBuild.err = err
			return
		}
		_, self, _, _ := runtime.Caller(0)
		tmp := filepath.Join(dir, fmt.Sprintf("wsbridge.%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", tmp, ".")
		cmd.Dir = filepath.Dir(self)
		if out, err := cmd.CombinedOutput(); err != nil {
			svcBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		svcBuild.path = filepath.Join(dir, "wsbridge")
		svcBuild.err = os.Rename(tmp, svcBuild.path)
	})
	if svcBuild.err != nil {
		t.Fatal(svcBuild.err)
	}
	return svcBuild.path
}

// svcFreePort returns a port nothing listens on right now.
func svcFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// svcProc is a running daemon (or any command) with its output captured.
type svcProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{}
	err  error // from Wait, once done is closed

	mu    sync.Mutex
	out   strings.Builder
	wake  chan struct{} // closed and replaced on every new line
	lines int
}

type svcOpts struct {
	env  []string // added to a minimal environment
	dir  string
	path string // the program; default: the wsbridge binary
}

// svcStartCmd starts a program with its stdout and stderr captured.
func svcStartCmd(t *testing.T, o svcOpts, args ...string) *svcProc {
	t.Helper()
	path := o.path
	if path == "" {
		path = svcBinary(t)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = o.dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, o.env...)
	p := &svcProc{t: t, cmd: cmd, done: make(chan struct{}), wake: make(chan struct{})}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var readers sync.WaitGroup
	readers.Go(func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.lines++
			close(p.wake)
			p.wake = make(chan struct{})
			p.mu.Unlock()
		}
		pr.Close()
	})
	go func() {
		p.err = cmd.Wait()
		readers.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(path), p.output())
		}
	})
	return p
}

// svcStart starts wsbridge and waits until it listens; it returns the
// process and the first address it listens on.
func svcStart(t *testing.T, o svcOpts, args ...string) (*svcProc, string) {
	t.Helper()
	p := svcStartCmd(t, o, args...)
	m := p.waitFor(regexp.MustCompile(`msg=listening address=(\S+)|"msg":"listening","address":"([^"]+)"`), 10*time.Second)
	if m == nil {
		t.Fatalf("wsbridge did not start listening:\n%s", p.output())
	}
	addr := m[1] + m[2]
	return p, addr
}

func (p *svcProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the output matches re, and returns the submatches, or
// nil on timeout or exit.
func (p *svcProc) waitFor(re *regexp.Regexp, timeout time.Duration) []string {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		m := re.FindStringSubmatch(p.out.String())
		wake := p.wake
		p.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-wake:
		case <-p.done:
			p.mu.Lock()
			m := re.FindStringSubmatch(p.out.String())
			p.mu.Unlock()
			return m
		case <-deadline:
			return nil
		}
	}
}

// waitLog waits for s in the output, failing the test if it does not come.
func (p *svcProc) waitLog(s string, timeout time.Duration) {
	p.t.Helper()
	if p.waitFor(regexp.MustCompile(regexp.QuoteMeta(s)), timeout) == nil {
		p.t.Fatalf("no %q in the output:\n%s", s, p.output())
	}
}

func (p *svcProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// exitCode waits for the process to end and returns its exit status.
func (p *svcProc) exitCode(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("still running after %v:\n%s", timeout, p.output())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

// svcDial opens a WebSocket to url ("ws://host:port/path").
func svcDial(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// svcEcho sends msg and returns the next message.
func svcEcho(t *testing.T, c *websocket.Conn, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// svcScript writes an executable shell script into dir.
func svcScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// svcNeed finds an outside program the test needs. Without it the test is
// skipped, except under CI, where its absence is a failure.
func svcNeed(t *testing.T, name, why string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
			if p := filepath.Join(dir, name); svcIsExecutable(p) {
				return p
			}
		}
		msg := fmt.Sprintf("%s not found (%s; on Debian: apt-get install -y %s)", name, why, svcPackage(name))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

func svcIsExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

func svcPackage(name string) string {
	switch name {
	case "systemd-socket-activate", "systemd-analyze":
		return "systemd"
	case "man":
		return "man-db"
	}
	return name
}
