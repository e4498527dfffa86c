//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// A target is one server under test: a daemon echoing through cat, the
// in-process echo ceiling, or the bare fork/exec server.
type target struct {
	name string
	ws   bool // speaks WebSocket; false: raw TCP (the bare fork/exec server)
	addr string
	cmd  *exec.Cmd
}

func (t *target) url() string { return "ws://" + t.addr + "/" }
func (t *target) pid() int    { return t.cmd.Process.Pid }

// spec says how to start a target; start may be called again for a fresh
// one (idle memory is measured on a daemon that has served nobody).
type spec struct {
	name string
	ws   bool
	argv func(addr string) []string
}

// start runs the target's server; in its own session (setsid) when own is
// set, as systemd would start it, so the kernel's autogroup scheduler gives
// it a fair share of the machine beside the load generator.
func (s spec) start(own bool) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	argv := s.argv(addr)
	cmd := exec.Command(argv[0], argv[1:]...)
	// Their logs would drown the table (websocketd reports each closed
	// session as an error): they go to a file.
	log, err := os.OpenFile(filepath.Join(os.TempDir(), "wsbridge-bench-"+strings.ReplaceAll(s.name, "/", "-")+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: own}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	t := &target{name: s.name, ws: s.ws, addr: addr, cmd: cmd}
	running.Lock()
	running.targets[t] = true
	running.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return t, nil
		}
		if time.Now().After(deadline) {
			t.stop()
			return nil, fmt.Errorf("start %s: not listening on %s: %w", s.name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running are the servers started and not yet stopped: an interrupted run
// stops them too, since those in sessions of their own would not get the
// terminal's ^C.
var running = struct {
	sync.Mutex
	targets map[*target]bool
}{targets: map[*target]bool{}}

func stopAll() {
	running.Lock()
	var all []*target
	for t := range running.targets {
		all = append(all, t)
	}
	running.Unlock()
	for _, t := range all {
		t.stop()
	}
}

func (t *target) stop() {
	running.Lock()
	delete(running.targets, t)
	running.Unlock()
	t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.cmd.Process.Kill()
		<-done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// specs returns the servers to compare: wsbridge (built from this
// checkout), websocketd when installed, the in-process ceiling and the bare
// fork/exec server (this program itself, re-run in a helper mode).
func specs(wsbridge, baseline string) ([]spec, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		return nil, err
	}
	split := func(addr string) (string, string) {
		host, port, _ := net.SplitHostPort(addr)
		return host, port
	}
	daemon := func(name, binary string) spec {
		return spec{name: name, ws: true, argv: func(addr string) []string {
			host, port := split(addr)
			return []string{binary, "--address=" + host, "--port=" + port, "--maxforks=0", "--loglevel=error", cat}
		}}
	}
	out := []spec{daemon("wsbridge", wsbridge)}
	if baseline != "" {
		out = append(out, daemon("baseline", baseline))
	}
	if path, err := exec.LookPath("websocketd"); err == nil {
		out = append(out, spec{
			name: "websocketd", ws: true,
			argv: func(addr string) []string {
				host, port := split(addr)
				return []string{path, "--address=" + host, "--port=" + port, "--loglevel=error", cat}
			},
		})
	} else {
		fmt.Fprintln(os.Stderr, "websocketd not installed (apt-get install websocketd): its column stays empty")
	}
	out = append(out,
		spec{name: "ceiling", ws: true, argv: func(addr string) []string { return []string{self, "-serve=ceiling", "-listen=" + addr} }},
		spec{name: "fork/exec", ws: false, argv: func(addr string) []string { return []string{self, "-serve=spawn", "-listen=" + addr, "-cat=" + cat} }},
	)
	return out, nil
}

// serveCeiling is the in-process ceiling: a coder/websocket echo server with
// no child, the most a Go WebSocket server can do per message on this
// machine with this client.
func serveCeiling(addr string) error {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx := context.Background()
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, data); err != nil {
				return
			}
		}
	})
	return http.ListenAndServe(addr, h)
}

// serveSpawn is the bare fork/exec server: for each TCP connection it starts
// cat with the connection as stdin and stdout and reaps it, which is all a
// spawning server cannot avoid doing.
func serveSpawn(addr, cat string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			continue
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			continue
		}
		p, err := os.StartProcess(cat, []string{"cat"}, &os.ProcAttr{Files: []*os.File{f, f, os.Stderr}})
		f.Close()
		if err == nil {
			go p.Wait()
		}
	}
}

// procCPU is the CPU time of pid and its reaped children, in seconds
// (utime+stime+cutime+cstime of /proc/PID/stat, in clock ticks of 1/100 s).
func procCPU(pid int) float64 { return statTicks(pid, 11, 12, 13, 14) }

// procCPUSelf is the CPU time of pid alone (utime+stime).
func procCPUSelf(pid int) float64 { return statTicks(pid, 11, 12) }

// statTicks adds fields of /proc/PID/stat, counted from the state (field
// 3) as 0, and returns seconds.
func statTicks(pid int, fields ...int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var ticks int64
	for _, i := range fields {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return float64(ticks) / 100
}

// waitReaped waits until pid has no children left, so their CPU time has
// been added to its cutime and cstime.
func waitReaped(pid int) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if !hasChildren(pid) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "pid %d: children not reaped after 10 s\n", pid)
}

func hasChildren(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		if b, _ := os.ReadFile(t); len(strings.TrimSpace(string(b))) > 0 {
			return true
		}
	}
	return false
}

// rssKB is pid's resident memory.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	return 0
}

// fdCount is how many descriptors pid holds.
func fdCount(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}
