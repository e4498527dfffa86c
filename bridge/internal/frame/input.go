package frame

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"unicode/utf8"
)

var (
	ErrTooBig = errors.New("message larger than --maxframesize")
	// ErrNUL is a client message holding a NUL byte, which --framing=nul
	// uses to end messages.
	ErrNUL = errors.New("message contains a NUL byte")
)

// StdinWriter batches client messages into the child's stdin. A message is
// appended to a borrowed buffer; the buffer is written when the client has
// nothing more waiting, when it fills, or when the session ends, so a burst of
// messages costs one write and an idle session holds no buffer.
type StdinWriter struct {
	File *os.File // the child's stdin
	buf  []byte
	// broken is set once the child stops taking input; what follows is
	// dropped, since there is nobody left to deliver it to.
	broken bool
	// blocked is set while a write waits on a child that is not reading, so
	// keepalive does not mistake our own backpressure for a dead client.
	blocked atomic.Bool

	// Whole holds every message whole before it is written, even without
	// a limit: a length-prefixed record needs its length first.
	Whole bool
	// NoNUL refuses a message holding a NUL byte (ErrNUL), checked as its
	// pieces arrive, so none reaches the child.
	NoNUL bool
}

// ReadMessage appends one message from r. With a limit, a message reaches
// the child whole or not at all: it is held until complete (growing the
// batch up to the limit), and dropped if it breaks the limit or the
// connection fails before its end (a text message that is not UTF-8 fails
// it: frameguard checks every text message as it arrives). Without a limit
// (--maxframesize=0) it streams through in chunks.
func (w *StdinWriter) ReadMessage(r io.Reader, limit int64) (int64, error) {
	if w.buf == nil {
		w.buf = GetChunk()[:0]
	}
	start := len(w.buf)
	var total int64
	for {
		if len(w.buf) == cap(w.buf) {
			if limit == 0 && !w.Whole {
				if err := w.Flush(); err != nil {
					return total, err
				}
				w.buf, start = GetChunk()[:0], 0
			} else {
				// A borrowed buffer twice the size; reading on to one
				// byte past the limit shows it broken.
				grown := GetBuffer(2 * cap(w.buf))[:len(w.buf)]
				copy(grown, w.buf)
				PutChunk(w.buf)
				w.buf = grown
			}
		}
		n, err := ReadCounted(r, w.buf[len(w.buf):cap(w.buf)], &total, limit)
		if w.NoNUL && err != ErrTooBig && bytes.IndexByte(w.buf[len(w.buf):len(w.buf)+n], 0) >= 0 {
			err = ErrNUL
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

// ReadCounted reads once from r, a client message, adding what it read to
// *total; once the message is past limit (0: none) the error is ErrTooBig,
// whatever else the read said. It is the read both message pumps share: the
// pipe session's, which holds a message until it is whole (ReadMessage), and
// the terminal's, which passes each piece on as it arrives (keystrokes need
// no whole message, and a paste must not wait for its end).
func ReadCounted(r io.Reader, p []byte, total *int64, limit int64) (int, error) {
	n, err := r.Read(p)
	*total += int64(n)
	if limit > 0 && *total > limit {
		return n, ErrTooBig
	}
	return n, err
}

// Blocked reports whether a write is waiting on a child that is not
// reading.
func (w *StdinWriter) Blocked() bool { return w.blocked.Load() }

// AppendNewline ends a text message in the batch.
func (w *StdinWriter) AppendNewline() { w.AppendByte('\n') }

// AppendByte ends a message in the batch with c (a newline, or NUL with
// --framing=nul).
func (w *StdinWriter) AppendByte(c byte) {
	if w.buf == nil {
		w.buf = GetChunk()[:0]
	} else if len(w.buf) == cap(w.buf) {
		w.Flush()
		w.buf = GetChunk()[:0]
	}
	w.buf = append(w.buf, c)
}

// BeginRecord makes room in the batch for a record header (--framing=length)
// and returns where it is, for EndRecord or DropRecord once the message
// that follows it has been read; it needs Whole.
func (w *StdinWriter) BeginRecord() int {
	if w.buf == nil {
		w.buf = GetChunk()[:0]
	} else if cap(w.buf)-len(w.buf) < RecordHeaderSize {
		w.Flush()
		w.buf = GetChunk()[:0]
	}
	at := len(w.buf)
	w.buf = w.buf[:at+RecordHeaderSize]
	return at
}

// EndRecord fills in the header at at, of type typ, for the payload read
// since.
func (w *StdinWriter) EndRecord(at int, typ byte) {
	PutRecordHeader(w.buf[at:], typ, len(w.buf)-at-RecordHeaderSize)
}

// DropRecord takes the header at at back out of the batch, after a message
// that failed.
func (w *StdinWriter) DropRecord(at int) {
	if w.buf != nil && len(w.buf) >= at {
		w.buf = w.buf[:at]
	}
}

// Flush writes the batch and gives the buffer back. A child that closed its
// stdin makes the write fail with EPIPE (Go leaves SIGPIPE ignored for
// descriptors other than 1 and 2); the session carries on for its output.
func (w *StdinWriter) Flush() error {
	if w.buf == nil {
		return nil
	}
	var err error
	if len(w.buf) > 0 && !w.broken {
		w.blocked.Store(true)
		_, err = w.File.Write(w.buf)
		w.blocked.Store(false)
		if err != nil {
			w.broken = true
		}
	}
	PutChunk(w.buf)
	w.buf = nil
	return err
}

// UTF8Check validates text that arrives in pieces, carrying a character
// split between two pieces over to the next. A sequence that can no longer
// become valid fails as soon as its bad byte is fed, not when it ends.
type UTF8Check struct {
	carry [utf8.UTFMax]byte
	n     int
}

// Feed checks the next piece of the message.
func (c *UTF8Check) Feed(p []byte) bool {
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
	tail := IncompleteTail(p)
	if tail < len(p) {
		c.n = copy(c.carry[:], p[tail:])
		p = p[:tail]
	}
	return utf8.Valid(p)
}

// End reports whether the message ended on a whole character, and resets c.
func (c *UTF8Check) End() bool {
	ok := c.n == 0
	c.n = 0
	return ok
}
