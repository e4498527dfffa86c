package bridge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/internal/frameguard"
)

// hijackCapture wraps the ResponseWriter handed to websocket.Accept so the
// session keeps two handles on the connection that coder/websocket does not
// expose: the buffered reader (to see whether the client's next message has
// already arrived) and a corkable writer (to send a burst of frames with one
// syscall). Under the reader it puts a frameguard, which checks the
// client's frames before the library reads them.
type hijackCapture struct {
	http.ResponseWriter
	br      *bufio.Reader
	cork    *frame.CorkWriter
	gc      *guardedConn
	deflate bool // permessage-deflate was negotiated
}

// frameBufSize is the per-connection write buffer.
const frameBufSize = 512

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
	h.cork = frame.NewCorkWriter(conn)
	// coder/websocket has set the handshake's response headers by now: a
	// Sec-WebSocket-Extensions there means permessage-deflate was
	// negotiated, the only extension it knows.
	h.deflate = h.Header().Get("Sec-WebSocket-Extensions") != ""
	h.gc = guardConn(conn, brw.Reader, h.deflate)
	conn = h.gc
	// The writer only assembles one frame at a time before the cork takes
	// it; output bursts are batched in the cork's borrowed buffer, so a
	// small permanent buffer is enough for control frames and short
	// messages.
	return conn, bufio.NewReadWriter(h.br, bufio.NewWriterSize(h.cork, frameBufSize)), nil
}

// guardedConn is the hijacked connection with its reads going through a
// frameguard. coder/websocket resets the buffered reader it is given to
// read the net.Conn it is given, so the guard has to sit in the net.Conn.
type guardedConn struct {
	net.Conn
	guard *frameguard.Guard
	// expired is set at the session's deadline (deadline.go): reads fail
	// from then on. timer is that deadline's, nil without one; it is set
	// before the kind gets the connection.
	expired atomic.Bool
	timer   *time.Timer
}

func (c *guardedConn) Read(p []byte) (int, error) {
	if c.expired.Load() {
		return 0, errTokenExpired
	}
	n, err := c.guard.Read(p)
	if err != nil && c.expired.Load() {
		// The read the deadline interrupted, or one that failed after it.
		return n, errTokenExpired
	}
	return n, err
}

// expire fails the connection's reads from now on: a read blocked on the
// socket returns at once, through the read deadline.
func (c *guardedConn) expire() {
	c.expired.Store(true)
	c.Conn.SetReadDeadline(time.Now())
}

// Close stops the deadline's timer: coder/websocket closes the connection
// through here whichever way the session ends.
func (c *guardedConn) Close() error {
	if c.timer != nil {
		c.timer.Stop()
	}
	return c.Conn.Close()
}

// guardConn puts a frameguard under conn's reads. The bytes br already
// holds (a client that sent frames right behind its handshake) are moved
// in front of the guard too, and br is left empty reading through it; br's
// own buffer is reused, so the guard costs an idle session no second one.
func guardConn(conn net.Conn, br *bufio.Reader, deflate bool) *guardedConn {
	var src io.Reader = conn
	if n := br.Buffered(); n > 0 {
		early, _ := br.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn)
	}
	g := &guardedConn{Conn: conn, guard: frameguard.New(src, deflate)}
	br.Reset(g)
	return g
}
