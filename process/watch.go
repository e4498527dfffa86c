//go:build unix

package process

import (
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// children is the one watcher that reaps every child Start made. A pidfd per
// child would cost each session a descriptor, and a goroutine blocked in
// wait4 per child a thread; instead SIGCHLD wakes one goroutine, which runs
// only while children of ours exist.
//
// It reaps only the pids it was given: other children of the daemon (any
// started through os/exec) belong to their own Wait, and are never reaped
// here. How it finds which of its children exited is the platform's
// (reapLocked): on Linux waitid names one, elsewhere it asks each of its own.
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
