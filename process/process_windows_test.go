package process_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/wsbridge/wsbridge/process"
)

// The test binary is its own child program: WSBRIDGE_TEST_CHILD names what
// it does, so the tests need no Unix tools (and run under Wine).
func TestMain(m *testing.M) {
	switch os.Getenv("WSBRIDGE_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "echo":
		// Each stdin line back on stdout, "err" on stderr at the end, exit 3.
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println("in:" + sc.Text())
		}
		fmt.Fprintln(os.Stderr, "err")
		os.Exit(3)
	case "eof":
		// Exit 5 as soon as stdin ends.
		io.Copy(io.Discard, os.Stdin)
		os.Exit(5)
	case "stubborn":
		// Start a grandchild that prints its pid, then never end by itself.
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "WSBRIDGE_TEST_CHILD=sleep")
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			fmt.Println("start:", err)
		}
		fmt.Printf("grandchild %d\n", cmd.Process.Pid)
		select {}
	case "sleep":
		select {}
	}
}

func child(t *testing.T, mode string) process.Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return process.Config{
		Path: exe,
		Args: []string{exe},
		Env:  []string{"WSBRIDGE_TEST_CHILD=" + mode},
	}
}

func startChild(t *testing.T, mode string) *process.Process {
	t.Helper()
	p, err := process.Start(child(t, mode))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
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

func TestWindowsStreamsAndExitStatus(t *testing.T) {
	p := startChild(t, "echo")
	if _, err := p.Stdin.Write([]byte("hello\r\n")); err != nil {
		t.Fatal(err)
	}
	p.CloseStdin()
	out, _ := io.ReadAll(p.Stdout)
	errOut, _ := io.ReadAll(p.Stderr)
	if got := strings.ReplaceAll(string(out), "\r", ""); got != "in:hello\n" {
		t.Fatalf("stdout %q", out)
	}
	if got := strings.ReplaceAll(string(errOut), "\r", ""); got != "err\n" {
		t.Fatalf("stderr %q", errOut)
	}
	if st := waitDone(t, p, 10*time.Second); st.Code != 3 || st.String() != "exit status 3" {
		t.Fatalf("status %v", st)
	}
}

// The daemon's ends are overlapped: a read deadline interrupts a read of a
// quiet child, and the stream reads on after it.
func TestWindowsReadDeadline(t *testing.T) {
	p := startChild(t, "echo")
	p.Stdout.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var b [64]byte
	if _, err := p.Stdout.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of a quiet child: %v, want the deadline", err)
	}
	p.Stdout.SetReadDeadline(time.Time{})
	p.Stdin.Write([]byte("x\n"))
	n, err := p.Stdout.Read(b[:])
	if err != nil || !strings.HasPrefix(string(b[:n]), "in:x") {
		t.Fatalf("read after the deadline: %q, %v", b[:n], err)
	}
}

func TestWindowsStopClosesStdinFirst(t *testing.T) {
	p := startChild(t, "eof")
	p.Stop()
	if st := waitDone(t, p, 10*time.Second); st.Code != 5 {
		t.Fatalf("status %v, want exit 5 on stdin EOF", st)
	}
}

// A child that ignores the end of its input and Ctrl-Break is ended with
// everything it started, and reads as killed, as SIGKILL does on Unix.
func TestWindowsStopEndsTheJob(t *testing.T) {
	p := startChild(t, "stubborn")
	line, err := bufio.NewReader(p.Stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	gpid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "grandchild ")))
	if err != nil {
		t.Fatalf("child said %q", line)
	}
	p.Stop()
	st := waitDone(t, p, 10*time.Second)
	if st.Signal != syscall.SIGKILL && st.Signal != syscall.SIGINT {
		t.Fatalf("status %v, want killed", st)
	}
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(gpid))
	if err != nil {
		return // gone already
	}
	defer windows.CloseHandle(h)
	if ev, _ := windows.WaitForSingleObject(h, 5000); ev != windows.WAIT_OBJECT_0 {
		t.Fatalf("grandchild %d survived the job", gpid)
	}
}

func TestWindowsTerminalRefused(t *testing.T) {
	cfg := child(t, "echo")
	cfg.Terminal = &process.Winsize{Cols: 80, Rows: 24}
	if _, err := process.Start(cfg); !errors.Is(err, process.ErrNoTerminal) {
		t.Fatalf("Start with a terminal: %v", err)
	}
}

func TestWindowsResolve(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.txt")
	os.WriteFile(plain, []byte("x"), 0o644)
	if _, err := process.Resolve(plain); !errors.Is(err, process.ErrNotExecutable) {
		t.Fatalf("Resolve(%q): %v", plain, err)
	}
	exe, _ := os.Executable()
	if path, err := process.Resolve(exe); err != nil || !filepath.IsAbs(path) {
		t.Fatalf("Resolve(%q) = %q, %v", exe, path, err)
	}
}
