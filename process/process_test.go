//go:build unix

package process_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/wsbridge/wsbridge/process"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func start(t *testing.T, script string) *process.Process {
	t.Helper()
	return startConfig(t, process.Config{
		Path: "/bin/sh",
		Args: []string{"sh", "-c", script},
		Env:  []string{"PATH=/usr/bin:/bin", "ONLY=this"},
	})
}

// startConfig starts cfg and stops, reaps and releases the process when
// the test ends.
func startConfig(t *testing.T, cfg process.Config) *process.Process {
	t.Helper()
	p, err := process.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		<-p.Done()
		p.Release()
	})
	return p
}

func waitDone(t *testing.T, p *process.Process, within time.Duration) process.Status {
	t.Helper()
	select {
	case <-p.Done():
		return p.Status()
	case <-time.After(within):
		t.Fatalf("process %d not done after %v", p.Pid, within)
	}
	return process.Status{}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script string
		want   string
		code   int
		sig    syscall.Signal
	}{
		{"exit 0", "exit status 0", 0, 0},
		{"exit 42", "exit status 42", 42, 0},
		{"kill -KILL $$", "killed by signal KILL", -1, syscall.SIGKILL},
		{"kill -TERM $$", "killed by signal TERM", -1, syscall.SIGTERM},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			p := start(t, tt.script)
			st := waitDone(t, p, 5*time.Second)
			if st.String() != tt.want || st.Code != tt.code || st.Signal != tt.sig {
				t.Fatalf("status %+v %q, want %q", st, st, tt.want)
			}
		})
	}
}

func TestStreamsAndEnvironment(t *testing.T) {
	t.Parallel()
	p := start(t, `read line; echo "in:$line"; echo "env:$(env | grep -v '^PWD=\|^SHLVL=\|^_=' | sort | tr '\n' ' ')"; echo err >&2`)
	if _, err := p.Stdin.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(p.Stdout)
	errOut, _ := io.ReadAll(p.Stderr)
	if got := string(out); got != "in:hello\nenv:ONLY=this PATH=/usr/bin:/bin \n" {
		t.Fatalf("stdout %q", got)
	}
	if string(errOut) != "err\n" {
		t.Fatalf("stderr %q", errOut)
	}
	waitDone(t, p, 5*time.Second)
}

func TestOwnProcessGroup(t *testing.T) {
	t.Parallel()
	p := start(t, `ps -o pgid= -p $$`)
	out, _ := io.ReadAll(p.Stdout)
	if strings.TrimSpace(string(out)) != itoa(p.Pid) {
		t.Fatalf("pgid %q, want the child's pid %d", out, p.Pid)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestStopClosesStdinFirst(t *testing.T) {
	t.Parallel()
	// The shell's own read loop, so no exec can be slow to start on a busy
	// machine before stdin closes.
	p := start(t, `echo ready; while read x; do :; done; exit 5`)
	var out []byte
	readUntil(t, p.Stdout, &out, "ready")
	start := time.Now()
	p.Stop()
	st := waitDone(t, p, 5*time.Second)
	if st.Code != 5 {
		t.Fatalf("status %v: cat should have ended on stdin EOF", st)
	}
	if d := time.Since(start); d > 90*time.Millisecond {
		t.Logf("took %v (slow machine?)", d)
	}
}

func TestStopEscalatesOnWholeGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "grandchild")
	p := start(t, `trap '' INT TERM HUP
sh -c 'trap "" INT TERM HUP; echo $$ > `+pidfile+`; while :; do sleep 0.05; done' &
while :; do sleep 0.05; done`)
	var grandchild int
	for grandchild == 0 {
		time.Sleep(10 * time.Millisecond)
		b, _ := os.ReadFile(pidfile)
		grandchild = atoi(strings.TrimSpace(string(b)))
	}
	begin := time.Now()
	p.Stop()
	st := waitDone(t, p, 5*time.Second)
	if st.Signal != syscall.SIGKILL {
		t.Fatalf("status %v, want killed by KILL", st)
	}
	if d := time.Since(begin); d < 850*time.Millisecond {
		t.Fatalf("SIGKILL after %v, before the 100+250+500 ms of waits", d)
	}
	if err := unix.Kill(grandchild, 0); !errors.Is(err, unix.ESRCH) {
		// It may linger as a zombie of init for a moment.
		time.Sleep(100 * time.Millisecond)
		if b, err := os.ReadFile("/proc/" + itoa(grandchild) + "/stat"); err == nil && !bytes.Contains(b, []byte(") Z")) {
			t.Fatalf("grandchild %d survived: %s", grandchild, b)
		}
	}
}

func TestGraceExtendsWaits(t *testing.T) {
	t.Parallel()
	p, err := process.Start(process.Config{
		Path:  "/bin/sh",
		Args:  []string{"sh", "-c", `trap 'exit 9' INT; cat >/dev/null & wait; while :; do sleep 0.02; done`},
		Grace: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	begin := time.Now()
	p.Stop()
	st := waitDone(t, p, 5*time.Second)
	if st.Code != 9 {
		t.Fatalf("status %v, want exit 9 from the INT trap", st)
	}
	if d := time.Since(begin); d < 400*time.Millisecond {
		t.Fatalf("SIGINT after %v, want after 100ms+300ms grace", d)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "run.sh")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	plain := filepath.Join(dir, "plain.txt")
	os.WriteFile(plain, []byte("x"), 0o644)
	tests := []struct {
		name, arg, wantErr string
	}{
		{"on PATH", "sh", ""},
		{"absolute", exe, ""},
		{"missing", "no-such-command-wsbridge", "not found"},
		{"not executable", plain, "not executable"},
		{"directory", dir, "not executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, err := process.Resolve(tt.arg)
			if tt.wantErr == "" {
				if err != nil || !filepath.IsAbs(path) {
					t.Fatalf("Resolve(%q) = %q, %v", tt.arg, path, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.arg) {
				t.Fatalf("Resolve(%q) error %v, want one naming it and %q", tt.arg, err, tt.wantErr)
			}
		})
	}
}

func TestSpawnFailure(t *testing.T) {
	t.Parallel()
	_, err := process.Start(process.Config{Path: "/nonexistent/prog", Args: []string{"prog"}})
	if err == nil || !strings.Contains(err.Error(), "spawn /nonexistent/prog") {
		t.Fatalf("err %v", err)
	}
}

func TestTerminal(t *testing.T) {
	t.Parallel()
	p := startConfig(t, process.Config{
		Path:     "/bin/sh",
		Args:     []string{"sh", "-c", `stty size; read x; stty size; echo "got $x"`},
		Env:      []string{"PATH=/usr/bin:/bin"},
		Terminal: &process.Winsize{Cols: 100, Rows: 30},
	})
	if p.Stderr != nil {
		t.Fatal("a terminal has no separate stderr")
	}
	var out []byte
	readUntil(t, p.Stdout, &out, "30 100")
	if err := p.Resize(process.Winsize{Cols: 90, Rows: 20}); err != nil {
		t.Fatal(err)
	}
	p.Stdin.Write([]byte("hi\n"))
	readUntil(t, p.Stdout, &out, "got hi")
	if !bytes.Contains(out, []byte("20 90")) {
		t.Fatalf("size after resize missing from %q", out)
	}
	if st := waitDone(t, p, 5*time.Second); st.Code != 0 {
		t.Fatalf("status %v", st)
	}
}

// readUntil reads r, appending to *got, until *got contains want.
func readUntil(t *testing.T, r io.Reader, got *[]byte, want string) {
	t.Helper()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Contains(*got, []byte(want)) {
		if f, ok := r.(*os.File); ok {
			f.SetReadDeadline(deadline)
		}
		n, err := r.Read(buf)
		*got = append(*got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading for %q: %v; got %q", want, err, *got)
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// The daemon's other children (CGI scripts, run through os/exec) are
// reaped by their own Wait, never by the watcher of ours, even when one
// sits as a zombie while ours exit around it.
func TestOtherChildrenAreNotReaped(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("/bin/sh", "-c", "exit 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ours := start(t, "sleep 0.3; exit 3")
	time.Sleep(100 * time.Millisecond) // cmd is a zombie now, unreaped
	if st := waitDone(t, ours, 5*time.Second); st.Code != 3 {
		t.Fatalf("ours: %v, want exit status 3", st)
	}
	var exitErr *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 5 {
		t.Fatalf("os/exec's child: %v, want exit status 5", err)
	}
}

// Children exiting together each get their own status.
func TestManyChildrenExitTogether(t *testing.T) {
	t.Parallel()
	procs := make([]*process.Process, 40)
	for i := range procs {
		procs[i] = start(t, "sleep 0.2; exit "+strconv.Itoa(i))
	}
	for i, p := range procs {
		if st := waitDone(t, p, 5*time.Second); st.Code != i {
			t.Fatalf("child %d: %v", i, st)
		}
	}
}

// Stdin and stderr share one socket: ending stdin leaves stderr working,
// and a Write blocked on a child that does not read returns.
func TestCloseStdinKeepsStderr(t *testing.T) {
	t.Parallel()
	p := start(t, `cat; echo done >&2`)
	if _, err := p.Stdin.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	p.CloseStdin()
	out, _ := io.ReadAll(p.Stdout)
	errOut, _ := io.ReadAll(p.Stderr)
	if string(out) != "x" || string(errOut) != "done\n" {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}
}

func TestCloseStdinWakesBlockedWrite(t *testing.T) {
	t.Parallel()
	p := start(t, `sleep 10`)
	wrote := make(chan error, 1)
	go func() {
		_, err := p.Stdin.Write(make([]byte, 4<<20))
		wrote <- err
	}()
	time.Sleep(100 * time.Millisecond)
	p.CloseStdin()
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("4 MB written to a child that reads nothing")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Write still blocked after CloseStdin")
	}
}
