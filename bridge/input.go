package bridge

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"unicode/utf8"
)

var (
	errInvalidUTF8 = errors.New("text message is not valid UTF-8")
	errTooBig      = errors.New("message larger than --maxframesize")
)

// stdinWriter batches client messages into the child's stdin. A message is
// appended to a borrowed buffer; the buffer is written when the client has
// nothing more waiting, when it fills, or when the session ends, so a burst of
// messages costs one write and an idle session holds no buffer.
type stdinWriter struct {
	f   *os.File
	buf []byte
	// broken is set once the child stops taking input; what follows is
	// dropped, since there is nobody left to deliver it to.
	broken bool
	// blocked is set while a write waits on a child that is not reading, so
	// keepalive does not mistake our own backpressure for a dead client.
	blocked atomic.Bool
}

// readMessage appends one message from r. With a limit, a message reaches
// the child whole or not at all: it is held until complete (growing the
// batch up to the limit), and dropped if it breaks the limit or is not valid
// UTF-8. Without one (--maxframesize=0) it streams through in chunks. In text
// mode check validates the bytes across read boundaries; it is nil in binary
// mode.
func (w *stdinWriter) readMessage(r io.Reader, check *utf8Check, limit int64) (int64, error) {
	if w.buf == nil {
		w.buf = getChunk()[:0]
	}
	start := len(w.buf)
	var total int64
	for {
		if len(w.buf) == cap(w.buf) {
			if limit == 0 {
				if err := w.flush(); err != nil {
					return total, err
				}
				w.buf, start = getChunk()[:0], 0
			} else {
				// Room for one byte past the limit, to see it broken.
				grown := make([]byte, len(w.buf), min(2*cap(w.buf), start+int(limit)+1))
				copy(grown, w.buf)
				putChunk(w.buf)
				w.buf = grown
			}
		}
		n, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		total += int64(n)
		switch {
		case limit > 0 && total > limit:
			err = errTooBig
		case n > 0 && check != nil && !check.write(w.buf[len(w.buf):len(w.buf)+n]):
			err = errInvalidUTF8
		case err == io.EOF && check != nil && !check.end():
			err = errInvalidUTF8
		}
		if err == io.EOF {
			w.buf = w.buf[:len(w.buf)+n]
			return total, nil
		}
		if err != nil {
			w.buf = w.buf[:start]
			return total, err
		}
		w.buf = w.buf[:len(w.buf)+n]
	}
}

func (w *stdinWriter) appendNewline() {
	if w.buf == nil {
		w.buf = getChunk()[:0]
	} else if len(w.buf) == cap(w.buf) {
		w.flush()
		w.buf = getChunk()[:0]
	}
	w.buf = append(w.buf, '\n')
}

// flush writes the batch and gives the buffer back. A child that closed its
// stdin makes the write fail with EPIPE (Go leaves SIGPIPE ignored for
// descriptors other than 1 and 2); the session carries on for its output.
func (w *stdinWriter) flush() error {
	if w.buf == nil {
		return nil
	}
	var err error
	if len(w.buf) > 0 && !w.broken {
		w.blocked.Store(true)
		_, err = w.f.Write(w.buf)
		w.blocked.Store(false)
		if err != nil {
			w.broken = true
		}
	}
	putChunk(w.buf) // keeps only standard-size buffers
	w.buf = nil
	return err
}

// utf8Check validates a text message that arrives in pieces, carrying a
// character split between two reads over to the next.
type utf8Check struct {
	carry [utf8.UTFMax]byte
	n     int
}

func (c *utf8Check) write(p []byte) bool {
	for c.n > 0 && len(p) > 0 {
		c.carry[c.n] = p[0]
		c.n++
		p = p[1:]
		if utf8.FullRune(c.carry[:c.n]) {
			if r, size := utf8.DecodeRune(c.carry[:c.n]); r == utf8.RuneError && size == 1 {
				return false
			}
			c.n = 0
		}
	}
	// Hold back a trailing character that is not complete yet.
	tail := incompleteTail(p)
	if tail < len(p) {
		c.n = copy(c.carry[:], p[tail:])
		p = p[:tail]
	}
	return utf8.Valid(p)
}

func (c *utf8Check) end() bool {
	ok := c.n == 0
	c.n = 0
	return ok
}
