//go:build unix

package readiness_test

import (
	"os"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/internal/readiness"
)

// nonblockingPipe returns a pipe whose read end is non-blocking, as a
// child's stream is on the daemon's side.
func nonblockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	// os.Pipe's ends are non-blocking and in Go's poller.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func TestOnReadableFiresOnceWhenReady(t *testing.T) {
	t.Parallel()
	r, w := nonblockingPipe(t)
	fired := make(chan struct{}, 2)
	if err := readiness.OnReadable(r, func() { fired <- struct{}{} }); err != nil {
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
	if readiness.CancelReadable(r) {
		t.Fatal("CancelReadable found a registration that already fired")
	}
}

func TestOnReadableFiresOnEnd(t *testing.T) {
	t.Parallel()
	r, w := nonblockingPipe(t)
	fired := make(chan struct{}, 1)
	if err := readiness.OnReadable(r, func() { fired <- struct{}{} }); err != nil {
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
	if err := readiness.OnReadable(r, func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if !readiness.CancelReadable(r) {
		t.Fatal("CancelReadable found no registration")
	}
	w.Write([]byte("x"))
	select {
	case <-fired:
		t.Fatal("fired after CancelReadable")
	case <-time.After(100 * time.Millisecond):
	}
}

// A session registers stdout once its idle deadline has passed: the
// registration must wait for data all the same, and fire when it comes.
func TestOnReadableAfterDeadline(t *testing.T) {
	t.Parallel()
	r, w := nonblockingPipe(t)
	r.SetReadDeadline(time.Now().Add(-time.Second))
	fired := make(chan struct{}, 1)
	if err := readiness.OnReadable(r, func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
		t.Fatal("fired on the expired deadline, with nothing to read")
	case <-time.After(100 * time.Millisecond):
	}
	w.Write([]byte("x"))
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire after a write")
	}
}

// A stream that already holds data when registered fires at once, even
// when the poller's wake-up for that data went to an earlier reader: Go's
// poller wakes on edges, and no new one comes for data already there.
func TestOnReadableWithDataWaiting(t *testing.T) {
	t.Parallel()
	r, w := nonblockingPipe(t)
	read := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := r.Read(b[:]) // waits in the poller: nothing written yet
		read <- err
	}()
	time.Sleep(50 * time.Millisecond)
	w.Write([]byte("xy"))
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	fired := make(chan struct{}, 1)
	if err := readiness.OnReadable(r, func() { fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire with a byte left to read")
	}
}
