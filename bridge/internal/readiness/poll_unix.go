//go:build (unix && !linux) || (linux && portable)

package readiness

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watcher, where there is no epoll (macOS, FreeBSD; Linux built with
// -tags portable, which is how this code is tested): each registration
// waits on a goroutine of its own, parked in Go's poller on its stream. An
// idle session costs a goroutine per waiting stream instead of none, and
// nothing else.
var watcher = &goWatcher{waiting: map[*os.File]*waiter{}}

type goWatcher struct {
	mu      sync.Mutex
	waiting map[*os.File]*waiter
}

// waiter is one registration.
type waiter struct {
	cancelled bool          // under goWatcher.mu
	done      chan struct{} // closed once the waiting goroutine is off the stream
}

func (w *goWatcher) add(f *os.File, fn func()) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("watch %s: %w", f.Name(), err)
	}
	// The wait below is a read: a deadline the session left on f (its
	// idle timer) would end it at once. While registered, the read
	// deadline is the watcher's.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("watch %s: %w", f.Name(), err)
	}
	wt := &waiter{done: make(chan struct{})}
	w.mu.Lock()
	w.waiting[f] = wt
	w.mu.Unlock()
	go w.wait(f, rc, wt, fn)
	return nil
}

// wait parks in the poller until f is readable or the registration is
// cancelled, then runs fn unless it was.
func (w *goWatcher) wait(f *os.File, rc syscall.RawConn, wt *waiter, fn func()) {
	// The poller wakes on edges: a stream that already holds data may never
	// see another, so readiness is asked of poll(2) before each wait.
	rc.Read(func(fd uintptr) bool { return w.isCancelled(wt) || readable(fd) })
	w.mu.Lock()
	fire := !wt.cancelled
	if fire {
		delete(w.waiting, f)
	}
	w.mu.Unlock()
	close(wt.done)
	if fire {
		fn()
	}
}

func (w *goWatcher) isCancelled(wt *waiter) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return wt.cancelled
}

func (w *goWatcher) cancel(f *os.File) bool {
	w.mu.Lock()
	wt, ok := w.waiting[f]
	if ok {
		wt.cancelled = true
		delete(w.waiting, f)
	}
	w.mu.Unlock()
	if !ok {
		return false
	}
	// A deadline in the past wakes the parked read; the goroutine is done
	// with f before the caller gets it back.
	f.SetReadDeadline(time.Unix(1, 0))
	<-wt.done
	f.SetReadDeadline(time.Time{})
	return true
}

// readable asks poll(2), without waiting, whether a read of fd would not
// block: data, the end of the stream, or an error.
func readable(fd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// An error of poll itself is left to the reader to meet.
		return err != nil || n > 0
	}
}
