package terminal

import (
	"os"
	"sync"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// maxPendingInput bounds the input a terminal session holds for a program
// that is not reading it. Beyond it input is dropped, as the terminal's own
// line discipline drops what does not fit its line buffer.
const maxPendingInput = 1 << 20

// ttyInput carries the clients' keyboard input to the terminal on a
// goroutine of its own, so a client's reader never waits on the program:
// it always reads on, and sees resume, Ctrl-C behind a paste and its own
// connection's end. Clients' frames are written whole and in order.
type ttyInput struct {
	f    *os.File
	wake chan struct{}
	done chan struct{}

	mu       sync.Mutex
	pending  []byte
	closed   bool
	dropping bool // the last push was dropped
	// Totals of input queued and written, for sync: a waiter fires once
	// everything queued before its sync is written.
	queuedTotal, writtenTotal uint64
	waiters                   []inputWaiter
}

// inputWaiter is one client's latest sync (client message "sync"): fire
// runs once writtenTotal reaches mark. One per owner, so their number is
// bounded by the clients.
type inputWaiter struct {
	owner any
	mark  uint64
	fire  func()
}

func newTTYInput(f *os.File) *ttyInput {
	in := &ttyInput{f: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go in.run() // owned by ttyProc.run, which waits on done
	return in
}

// push queues b (copied). b is dropped when too much is pending already;
// firstDrop reports the first input dropped since input last went through.
// After close, input is dropped quietly: the program is gone.
func (in *ttyInput) push(b []byte) (queued, firstDrop bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false, false
	}
	if len(in.pending)+len(b) > maxPendingInput {
		first := !in.dropping
		in.dropping = true
		return false, first
	}
	in.dropping = false
	in.pending = append(in.pending, b...)
	in.queuedTotal += uint64(len(b))
	select {
	case in.wake <- struct{}{}:
	default:
	}
	return true, false
}

// close ends the writer once it has written what is pending, or at once if
// a write is stuck: the terminal's write deadline is set to now.
func (in *ttyInput) close() {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// sync runs fire once all input queued so far has been written to the
// terminal (at once if it has). A newer sync of the same owner replaces
// its older one. After close it never fires: the program is gone.
func (in *ttyInput) sync(owner any, fire func()) {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	if in.writtenTotal >= in.queuedTotal {
		in.mu.Unlock()
		fire()
		return
	}
	w := inputWaiter{owner: owner, mark: in.queuedTotal, fire: fire}
	for i := range in.waiters {
		if in.waiters[i].owner == owner {
			in.waiters[i] = w
			in.mu.Unlock()
			return
		}
	}
	in.waiters = append(in.waiters, w)
	in.mu.Unlock()
}

// wrote counts n bytes written and fires the waiters they complete,
// outside the lock.
func (in *ttyInput) wrote(n int) {
	in.mu.Lock()
	in.writtenTotal += uint64(n)
	var due []func()
	kept := in.waiters[:0]
	for _, w := range in.waiters {
		if w.mark <= in.writtenTotal {
			due = append(due, w.fire)
		} else {
			kept = append(kept, w)
		}
	}
	clear(in.waiters[len(kept):])
	in.waiters = kept
	in.mu.Unlock()
	for _, fire := range due {
		fire()
	}
}

func (in *ttyInput) run() {
	defer close(in.done)
	var spare []byte
	broken := false
	for {
		in.mu.Lock()
		batch := in.pending
		in.pending = spare[:0]
		closed := in.closed
		in.mu.Unlock()
		if len(batch) > 0 && !broken {
			// A write fails once the terminal is gone; later input has
			// nowhere to go.
			n, err := in.f.Write(batch)
			broken = err != nil
			in.wrote(n)
		}
		spare = batch
		if cap(spare) > 4*frame.ChunkSize {
			spare = nil // a big paste is over: do not keep its buffer
		}
		if closed {
			in.mu.Lock()
			left := len(in.pending)
			in.mu.Unlock()
			if left == 0 || broken {
				return
			}
			continue
		}
		if len(batch) == 0 {
			<-in.wake
		}
	}
}
