//go:build unix

package process_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wsbridge/wsbridge/process"
)

func startTerminal(t *testing.T, noEcho bool, script string) *process.Process {
	t.Helper()
	return startConfig(t, process.Config{
		Path:     "/bin/sh",
		Args:     []string{"sh", "-c", script},
		Env:      []string{"PATH=/usr/bin:/bin"},
		Terminal: &process.Winsize{Cols: 80, Rows: 24},
		NoEcho:   noEcho,
	})
}

// readAll reads a terminal until the child's side closes (EIO).
func readAll(t *testing.T, f *os.File) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 4096)
	f.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := f.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, unix.EIO) || errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read: %v; got %q", err, out)
		}
	}
}

func TestTerminalEcho(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		noEcho bool
		want   string
	}{
		{"echo on by default", false, "secret\r\ngot secret\r\n"},
		// Written before the child even runs: echo must already be off.
		{"no echo from the start", true, "got secret\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startTerminal(t, tt.noEcho, `read x; echo "got $x"`)
			if _, err := p.Stdin.Write([]byte("secret\n")); err != nil {
				t.Fatal(err)
			}
			if got := string(readAll(t, p.Stdout)); got != tt.want {
				t.Fatalf("output %q, want %q", got, tt.want)
			}
		})
	}
}

// CloseStdin on a terminal sends the EOF character: cat ends by itself, with
// status 0, instead of waiting for the signals of the kill sequence.
func TestTerminalCloseStdin(t *testing.T) {
	t.Parallel()
	p := startTerminal(t, true, `cat; echo "cat ended"; exit 7`)
	p.Stdin.Write([]byte("line\n"))
	var out []byte
	readUntil(t, p.Stdout, &out, "line")
	p.CloseStdin()
	out = append(out, readAll(t, p.Stdout)...)
	if !bytes.Contains(out, []byte("cat ended")) {
		t.Fatalf("cat did not end on EOF: %q", out)
	}
	if st := waitDone(t, p, 5*time.Second); st.Code != 7 {
		t.Fatalf("status %v, want exit status 7", st)
	}
}

// Resize must leave the master non-blocking (pty.Setsize would not): a read
// deadline still interrupts a read after a resize.
func TestTerminalResizeKeepsDeadlines(t *testing.T) {
	t.Parallel()
	p := startTerminal(t, true, `stty size; sleep 30`)
	var out []byte
	readUntil(t, p.Stdout, &out, "24 80")
	for i := 0; i < 3; i++ {
		if err := p.Resize(process.Winsize{Cols: uint16(100 + i), Rows: 40}); err != nil {
			t.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		p.Stdout.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := p.Stdout.Read(make([]byte, 64))
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after resize: %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		p.Kill() // unblocks the read: the terminal's other side closes
		<-errc
		t.Fatal("a read after Resize ignored its deadline: the master went back to blocking mode")
	}
}

// A child that never reads its terminal must not hold up the kill
// sequence: the EOF character of CloseStdin cannot be written into a full
// input queue, and the signals must follow anyway.
func TestTerminalStopWithFullInput(t *testing.T) {
	t.Parallel()
	// In canonical mode the line discipline drops what does not fit; raw,
	// the queue fills and writes wait.
	p := startTerminal(t, true, `stty raw; echo ready; exec sleep 30`)
	var out []byte
	readUntil(t, p.Stdout, &out, "ready")
	chunk := bytes.Repeat([]byte("x"), 4096)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("the terminal's input never filled up")
		}
		p.Stdin.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := p.Stdin.Write(chunk); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	p.Stdin.SetWriteDeadline(time.Time{})
	p.Stop()
	if st := waitDone(t, p, 5*time.Second); st.Signal == 0 {
		t.Fatalf("status %v, want killed by a signal", st)
	}
}
