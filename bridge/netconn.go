package bridge

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// hijackCapture wraps the ResponseWriter handed to websocket.Accept so the
// session keeps two handles on the connection that coder/websocket does not
// expose: the buffered reader (to see whether the client's next message has
// already arrived) and a corkable writer (to send a burst of frames with one
// syscall).
// frameBufSize is the per-connection write buffer.
const frameBufSize = 512

type hijackCapture struct {
	http.ResponseWriter
	br   *bufio.Reader
	cork *corkWriter
}

func (h *hijackCapture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("%T cannot be hijacked", h.ResponseWriter)
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.br = brw.Reader
	h.cork = &corkWriter{conn: conn}
	// The writer only assembles one frame at a time before the cork takes
	// it; output bursts are batched in the cork's borrowed buffer, so a
	// small permanent buffer is enough for control frames and short
	// messages.
	return conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(h.cork, frameBufSize)), nil
}

// corkWriter sits under coder/websocket's bufio.Writer. Uncorked, each flushed
// frame goes straight to the socket. Corked, flushed frames collect in a
// borrowed buffer until Uncork, so the lines of one read from the child leave
// in one write. Frames written by other goroutines (pongs, stderr lines)
// arrive through the same lock and keep their order.
type corkWriter struct {
	mu     sync.Mutex
	conn   net.Conn
	corked bool
	buf    []byte
}

func (c *corkWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.conn.Write(p)
	}
	if c.buf == nil {
		c.buf = getChunk()[:0]
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

// Cork starts collecting frames.
func (c *corkWriter) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork sends what was collected and returns to writing through.
func (c *corkWriter) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	err := c.flushLocked()
	if c.buf != nil {
		putChunk(c.buf)
		c.buf = nil
	}
	return err
}

func (c *corkWriter) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// nextMessageBuffered reports whether a complete single-frame data message is
// already waiting in br. The input pump holds back its write to the child's
// stdin while that is so, batching messages that arrived together into one
// write. A control frame or a fragment counts as "not buffered": reading it
// could block, and stdin must never wait behind a blocked read.
func nextMessageBuffered(br *bufio.Reader) bool {
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
