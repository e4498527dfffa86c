//go:build linux && !portable

package readiness

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// watcher is the one goroutine that waits, in an epoll set of its own, for
// streams that are seldom ready (a child's stderr), so that an idle session
// parks no goroutine on them: each session would otherwise hold a blocked
// reader and its stack for every such stream. It runs only while something
// is registered.
var watcher = &readyWatcher{epfd: -1}

type readyWatcher struct {
	mu      sync.Mutex
	epfd    int // the epoll set, made on first use and kept
	wake    int // an eventfd in the set: wakes the loop to let it exit
	waiting map[int32]func()
	running bool
}

func fdOf(f *os.File) (int32, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := int32(-1)
	if err := rc.Control(func(u uintptr) { fd = int32(u) }); err != nil {
		return -1, err
	}
	return fd, nil
}

func (w *readyWatcher) add(f *os.File, fn func()) error {
	fd, err := fdOf(f)
	if err != nil {
		return fmt.Errorf("watch %s: %w", f.Name(), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.open(); err != nil {
		return fmt.Errorf("watch %s: %w", f.Name(), err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: fd}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		return fmt.Errorf("watch %s: %w", f.Name(), err)
	}
	w.waiting[fd] = fn
	if !w.running {
		w.running = true
		go w.loop()
	}
	return nil
}

// open makes the epoll set and its eventfd, once; w.mu is held.
func (w *readyWatcher) open() error {
	if w.epfd >= 0 {
		return nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return err
	}
	w.epfd, w.wake, w.waiting = epfd, wake, map[int32]func(){}
	return nil
}

func (w *readyWatcher) cancel(f *os.File) bool {
	fd, err := fdOf(f)
	if err != nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.waiting[fd]; !ok {
		return false
	}
	delete(w.waiting, fd)
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	if len(w.waiting) == 0 {
		// Let the loop see that it has nothing left to wait for.
		unix.Write(w.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
	return true
}

// loop hands each ready stream to its fn until nothing is registered.
func (w *readyWatcher) loop() {
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if err != nil && err != unix.EINTR {
			// Not expected of a valid epoll set; never spin on it.
			time.Sleep(10 * time.Millisecond)
		}
		w.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == w.wake {
				var b [8]byte
				unix.Read(w.wake, b[:])
				continue
			}
			fn, ok := w.waiting[ev.Fd]
			if !ok {
				continue
			}
			delete(w.waiting, ev.Fd)
			unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			go fn()
		}
		if len(w.waiting) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}
