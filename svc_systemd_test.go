package main_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// notifyReceiver is a NOTIFY_SOCKET: it collects what sd_notify sends.
type notifyReceiver struct {
	path string
	conn *net.UnixConn
	wg   sync.WaitGroup

	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifyReceiver {
	t.Helper()
	r := &notifyReceiver{path: filepath.Join(shortTempDir(t), "notify")}
	var err error
	r.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: r.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	r.wg.Go(func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := r.conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, string(buf[:n]))
			r.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		r.conn.Close()
		r.wg.Wait()
	})
	return r
}

// waitFor waits for a datagram containing s and returns its index.
func (r *notifyReceiver) waitFor(t *testing.T, s string, after int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for i := after; i < len(r.msgs); i++ {
			if strings.Contains(r.msgs[i], s) {
				r.mu.Unlock()
				return i
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("no %q from sd_notify after message %d; got %q", s, after, r.msgs)
	return -1
}

// TestSvcSystemdNotify: READY=1 once listening, WATCHDOG=1 pings when
// WATCHDOG_USEC is set, RELOADING=1 then READY=1 around a SIGHUP reload,
// STOPPING=1 on SIGTERM.
func TestSvcSystemdNotify(t *testing.T) {
	t.Parallel()
	r := listenNotify(t)
	d := startServerEnv(t, []string{"NOTIFY_SOCKET=" + r.path, "WATCHDOG_USEC=200000"}, "cat")
	ready := r.waitFor(t, "READY=1", 0)
	r.mu.Lock()
	if !strings.Contains(r.msgs[ready], "STATUS=listening on "+d.addr) {
		t.Errorf("READY without the address in STATUS: %q", r.msgs[ready])
	}
	r.mu.Unlock()
	// Pings at half the interval: several within half a second.
	w := r.waitFor(t, "WATCHDOG=1", 0)
	r.waitFor(t, "WATCHDOG=1", w+1)

	d.signal(t, syscall.SIGHUP)
	rel := r.waitFor(t, "RELOADING=1", 0)
	r.mu.Lock()
	if !regexp.MustCompile(`MONOTONIC_USEC=\d+`).MatchString(r.msgs[rel]) {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", r.msgs[rel])
	}
	r.mu.Unlock()
	r.waitFor(t, "READY=1", rel+1)

	d.signal(t, syscall.SIGTERM)
	r.waitFor(t, "STOPPING=1", rel+1)
	if code := d.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestSvcSocketActivation runs wsbridge under Debian's systemd-socket-activate,
// which listens, then on the first connection execs wsbridge with the socket
// as fd 3 (LISTEN_FDS=1): a WebSocket round trip through it, and with two
// named sockets, metrics on the one called "metrics".
func TestSvcSocketActivation(t *testing.T) {
	t.Parallel()
	activate := need(t, "systemd-socket-activate", "socket activation test")
	bin := wsbridgeBinary(t)
	tests := []struct {
		name    string
		metrics bool
	}{
		{"one socket", false},
		{"named sockets", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			args := []string{"-l", web}
			metrics := ""
			if tt.metrics {
				metrics = fmt.Sprintf("127.0.0.1:%d", freePort(t))
				args = append(args, "-l", metrics, "--fdname=web:metrics")
			}
			// --port is ignored when systemd passes sockets.
			args = append(args, bin, "--port=1", "cat")
			p := startProgram(t, nil, activate, args...)
			if p.match(10*time.Second, regexp.MustCompile(`Listening on `+regexp.QuoteMeta(web))) == nil {
				if strings.Contains(p.Stderr(), "rror") {
					skipUnlessCI(t, "systemd-socket-activate cannot run here:\n"+p.Stderr())
				}
				t.Fatalf("systemd-socket-activate did not listen:\n%s", p.Stderr())
			}
			c := dial(t, "ws://"+web+"/")
			if got := echo(t, c, "through systemd"); got != "through systemd" {
				t.Errorf("echo %q", got)
			}
			c.Close(websocket.StatusNormalClosure, "")
			p.waitLog(t, 5*time.Second, "msg=listening address="+web)
			if tt.metrics {
				_, body := httpRequest(t, nil, "GET", "http://"+metrics+"/metrics", nil)
				if !strings.Contains(body, "wsbridge_sessions_total 1") {
					t.Errorf("metrics on the socket named metrics:\n%s", body)
				}
			}
			p.signal(t, syscall.SIGTERM)
			if code := p.exitCode(t, 10*time.Second); code != 0 {
				t.Errorf("exit status %d:\n%s", code, p.Stderr())
			}
		})
	}
}

// TestSvcSystemdUnitsVerify checks examples/systemd with systemd-analyze
// verify. It wants ExecStart's binary to exist, so a copy of the units
// points at the binary just built.
func TestSvcSystemdUnitsVerify(t *testing.T) {
	t.Parallel()
	analyze := need(t, "systemd-analyze", "unit file check")
	bin := wsbridgeBinary(t)
	dir := t.TempDir()
	units := []string{"wsbridge.service", "wsbridge.socket", "wsbridge-metrics.socket"}
	for _, name := range units {
		data, err := os.ReadFile(filepath.Join("examples", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(data), "/usr/local/bin/wsbridge", bin)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"verify", "--man=no"}
	for _, name := range units {
		args = append(args, filepath.Join(dir, name))
	}
	cmd := exec.Command(analyze, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	// Outside a booted systemd, verify may still complain about the
	// machine itself; only lines about our units count.
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "wsbridge.") {
			problems = append(problems, line)
		}
	}
	if err != nil || len(problems) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
