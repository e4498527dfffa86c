package bridge

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"unicode/utf8"
)

var errInvalidUTF8 = errors.New("text message is not valid UTF-8")

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

// readMessage appends one message from r. In text mode the bytes are checked
// to be UTF-8 across read boundaries; check is nil in binary mode.
func (w *stdinWriter) readMessage(r io.Reader, check *utf8Check) (int64, error) {
	var total int64
	for {
		if w.buf == nil {
			w.buf = getChunk()[:0]
		} else if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return total, err
			}
			w.buf = getChunk()[:0]
		}
		n, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		if n > 0 {
			if check != nil && !check.write(w.buf[len(w.buf):len(w.buf)+n]) {
				return total, errInvalidUTF8
			}
			w.buf = w.buf[:len(w.buf)+n]
			total += int64(n)
		}
		if err == io.EOF {
			if check != nil && !check.end() {
				return total, errInvalidUTF8
			}
			return total, nil
		}
		if err != nil {
			return total, err
		}
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
	putChunk(w.buf)
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
