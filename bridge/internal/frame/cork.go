package frame

import (
	"bufio"
	"encoding/binary"
	"net"
	"sync"
)

// CorkWriter sits under coder/websocket's bufio.Writer. Uncorked, each flushed
// frame goes straight to the socket. Corked, flushed frames collect in a
// borrowed buffer until Uncork, so the lines of one read from the child leave
// in one write. Frames written by other goroutines (pongs, stderr lines)
// arrive through the same lock and keep their order.
type CorkWriter struct {
	mu     sync.Mutex
	conn   net.Conn
	corked bool
	buf    []byte

	// For TryWrite: a write to the socket that never waits (nil if there is
	// none: TLS, Windows), and the rest of a frame a TryWrite could write
	// only in part, which goes out before anything else.
	writeNow  func(p []byte) int
	writevNow func(bufs [][]byte) int
	rawDone   bool
	pending   []byte
}

// Write sends p, or with the cork in collects it.
func (c *CorkWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flushPendingLocked(); err != nil {
		return 0, err
	}
	if !c.corked {
		return c.conn.Write(p)
	}
	if c.buf == nil {
		c.buf = GetChunk()[:0]
	}
	if len(c.buf)+len(p) > cap(c.buf) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(c.buf) {
			return c.conn.Write(p)
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// NewCorkWriter returns an uncorked writer to conn.
func NewCorkWriter(conn net.Conn) *CorkWriter { return &CorkWriter{conn: conn} }

// Cork starts collecting frames.
func (c *CorkWriter) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork sends what was collected and returns to writing through.
func (c *CorkWriter) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	err := c.flushPendingLocked()
	if err == nil {
		err = c.flushLocked()
	}
	if c.buf != nil {
		PutChunk(c.buf)
		c.buf = nil
	}
	return err
}

// TryWrite writes p at once if the socket takes it without waiting, for a
// fan-out that writes to many clients from one goroutine and must never wait
// on one. It returns how much it wrote: all of p; nothing, when the socket
// is full, another write is under way, frames are corked, or the
// connection has no descriptor of its own (TLS), and the caller must queue
// p for a writer that may wait; or a part, whose rest the CorkWriter keeps
// and sends before any other frame (so none lands inside this one): the
// caller must then have Flush called soon, by a goroutine that may wait.
func (c *CorkWriter) TryWrite(p []byte) int {
	if !c.tryLock() {
		return 0
	}
	defer c.mu.Unlock()
	if c.writeNow == nil {
		return 0
	}
	n := c.writeNow(p)
	if n > 0 && n < len(p) {
		c.pending = append([]byte(nil), p[n:]...)
	}
	return n
}

// TryWritev is TryWrite of several buffers of whole frames in one system
// call (writev), for a fan-out that finds a few batches waiting for a
// client: it returns how many bytes of bufs, taken in order, the socket
// took. A buffer cut in the middle has its rest kept and sent first, as
// TryWrite does; the buffers after it are the caller's to queue.
func (c *CorkWriter) TryWritev(bufs [][]byte) int {
	if len(bufs) == 1 {
		return c.TryWrite(bufs[0])
	}
	if !c.tryLock() {
		return 0
	}
	defer c.mu.Unlock()
	if c.writevNow == nil {
		return 0
	}
	n := c.writevNow(bufs)
	rest := n
	for _, b := range bufs {
		if rest < len(b) {
			if rest > 0 {
				c.pending = append([]byte(nil), b[rest:]...)
			}
			break
		}
		rest -= len(b)
	}
	return n
}

// tryLock takes the lock for a write that must not wait, and reports
// whether it may go ahead: not while another write holds the lock, frames
// are corked, or the rest of a cut frame waits for Flush. The first time,
// it finds the socket's non-blocking writes.
func (c *CorkWriter) tryLock() bool {
	if !c.mu.TryLock() {
		return false
	}
	if c.corked || len(c.pending) > 0 {
		c.mu.Unlock()
		return false
	}
	if !c.rawDone {
		c.rawDone = true
		c.writeNow = nonblockingWriter(c.conn)
		c.writevNow = nonblockingWritev(c.conn)
	}
	return true
}

// Flush sends the rest of a frame TryWrite wrote in part, waiting for the
// socket if need be.
func (c *CorkWriter) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushPendingLocked()
}

func (c *CorkWriter) flushPendingLocked() error {
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.conn.Write(c.pending)
	c.pending = nil
	return err
}

func (c *CorkWriter) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// NextMessageBuffered reports whether a complete single-frame data message is
// already waiting in br. The input pump holds back its write to the child's
// stdin while that is so, batching messages that arrived together into one
// write. A control frame or a fragment counts as "not buffered": reading it
// could block, and stdin must never wait behind a blocked read.
func NextMessageBuffered(br *bufio.Reader) bool {
	if br == nil {
		return false
	}
	n := br.Buffered()
	if n < 2 {
		return false
	}
	b, err := br.Peek(n)
	if err != nil {
		return false
	}
	fin, opcode := b[0]&0x80 != 0, b[0]&0x0f
	if !fin || (opcode != 1 && opcode != 2) {
		return false
	}
	header, length := 2, uint64(b[1]&0x7f)
	switch length {
	case 126:
		if n < 4 {
			return false
		}
		header, length = 4, uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		if n < 10 {
			return false
		}
		header, length = 10, binary.BigEndian.Uint64(b[2:10])
	}
	if b[1]&0x80 != 0 {
		header += 4 // masking key
	}
	return n >= header && length <= uint64(n-header)
}
