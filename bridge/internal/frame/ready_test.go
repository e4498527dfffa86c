package frame_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// nonblockingPipe returns a pipe whose read end is non-blocking, as a
// child's stream is on the daemon's side.
func nonblockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fds[0], true)
	r, w = os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func TestOnReadableFiresOnceWhenReady(t *testing.T) {
	t.Parallel()
	r, w := nonblockingPipe(t)
	fired := make(chan struct{}, 2)
	if err := frame.OnReadable(r, func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
		t.Fatal("fired before anything was written")
	case <-time.After(50 * time.Millisecond):
	}
	w.Write([]byte("x"))
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire after a write")
	}
	if frame.CancelReadable(r) {
		t.Fatal("CancelReadable found a registration that already fired")
	}
}

func TestOnReadableFiresOnEnd(t *testing.T) {
	t.Parallel()
	r, w := nonblockingPipe(t)
	fired := make(chan struct{}, 1)
	if err := frame.OnReadable(r, func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	w.Close()
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire when the writer closed")
	}
}

func TestCancelReadable(t *testing.T) {
	t.Parallel()
	r, w := nonblockingPipe(t)
	fired := make(chan struct{}, 1)
	if err := frame.OnReadable(r, func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if !frame.CancelReadable(r) {
		t.Fatal("CancelReadable found no registration")
	}
	w.Write([]byte("x"))
	select {
	case <-fired:
		t.Fatal("fired after CancelReadable")
	case <-time.After(100 * time.Millisecond):
	}
}

// FillNow on a quiet stream reads nothing and holds no buffer, and a line
// longer than the buffer still arrives whole, in fragments.
func TestFillNow(t *testing.T) {
	t.Parallel()
	r, w := nonblockingPipe(t)
	sr, err := frame.NewStreamReader(r, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sr.FillNow(); got || err != nil {
		t.Fatalf("FillNow on a quiet stream: %v, %v", got, err)
	}
	if _, _, ok := sr.Next(); ok {
		t.Fatal("Next returned a piece of nothing")
	}
	line := strings.Repeat("e", frame.ChunkSize+100)
	go func() { w.Write([]byte(line + "\n")); w.Close() }()
	var msg strings.Builder
	for ended := false; !ended; {
		_, err := sr.FillNow()
		for {
			piece, end, ok := sr.Next()
			if !ok {
				break
			}
			msg.Write(piece)
			if end {
				ended = true
			}
		}
		if err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if msg.String() != line {
		t.Fatalf("got %d bytes, want %d", msg.Len(), len(line))
	}
}
