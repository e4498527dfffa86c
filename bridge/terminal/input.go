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
			_, err := in.f.Write(batch)
			broken = err != nil
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
