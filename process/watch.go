package process

import (
	"os"
	"os/signal"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// children is the one watcher that reaps every child Start made. A pidfd per
// child would cost each session a descriptor, and a goroutine blocked in
// wait4 per child a thread; instead SIGCHLD wakes one goroutine, which runs
// only while children of ours exist.
//
// It reaps only the pids it was given: other children of the daemon (any
// started through os/exec) belong to their own Wait, and are never reaped
// here. waitid with WNOWAIT names an exited child
// without reaping it; only when that child is not ours does the watcher ask
// each of its own children in turn, since a zombie that is not ours can hide
// ours from waitid until its owner reaps it.
var children = &watcher{kids: map[int]*Process{}}

type watcher struct {
	mu      sync.Mutex
	kids    map[int]*Process
	running bool
	sigs    chan os.Signal // SIGCHLD
	poke    chan struct{}  // a child was added
	once    sync.Once
}

// add starts watching p, which may already have exited.
func (w *watcher) add(p *Process) {
	w.once.Do(func() {
		w.sigs = make(chan os.Signal, 1)
		w.poke = make(chan struct{}, 1)
		signal.Notify(w.sigs, unix.SIGCHLD)
	})
	w.mu.Lock()
	w.kids[p.Pid] = p
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		go w.loop()
	}
	// The child may have exited before it was known here, its SIGCHLD
	// already consumed: look once more.
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// loop reaps exited children of ours until none is left to watch.
func (w *watcher) loop() {
	for {
		w.mu.Lock()
		w.reapLocked()
		if len(w.kids) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		select {
		case <-w.sigs:
		case <-w.poke:
		}
	}
}

// reapLocked reaps every exited child of ours; w.mu is held, so no pid is
// reaped twice.
func (w *watcher) reapLocked() {
	for {
		pid := exitedChild()
		if pid <= 0 {
			return
		}
		p, ours := w.kids[pid]
		if !ours {
			// Someone else's zombie hides ours: ask each of ours.
			for _, p := range w.kids {
				w.tryReap(p)
			}
			return
		}
		if !w.tryReap(p) {
			return
		}
	}
}

// tryReap collects p's status if it has exited.
func (w *watcher) tryReap(p *Process) bool {
	st, ok := reap(p.Pid, unix.WNOHANG)
	if !ok {
		return false
	}
	delete(w.kids, p.Pid)
	p.exited(st)
	return true
}

// exitedChild names a child of the daemon that has exited, without reaping
// it; 0 if none has.
func exitedChild() int {
	// siginfo_t as the kernel fills it for SIGCHLD: si_pid follows signo,
	// errno and code, and the union it starts is pointer-aligned: 4 bytes
	// of padding on 64-bit systems, none on 32-bit ones.
	var info struct {
		signo, errno, code int32
		_                  [unsafe.Sizeof(uintptr(0)) - 4]byte
		pid                int32
		_                  [128 - 16 - (unsafe.Sizeof(uintptr(0)) - 4)]byte
	}
	for {
		_, _, errno := unix.Syscall6(unix.SYS_WAITID, unix.P_ALL, 0, uintptr(unsafe.Pointer(&info)),
			unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return int(info.pid)
		case unix.EINTR:
			continue
		default: // ECHILD: no children at all
			return 0
		}
	}
}
