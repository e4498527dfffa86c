package bridge

import (
	"bufio"
	"fmt"
	"net"
	"net/http"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// hijackCapture wraps the ResponseWriter handed to websocket.Accept so the
// session keeps two handles on the connection that coder/websocket does not
// expose: the buffered reader (to see whether the client's next message has
// already arrived) and a corkable writer (to send a burst of frames with one
// syscall).
type hijackCapture struct {
	http.ResponseWriter
	br   *bufio.Reader
	cork *frame.CorkWriter
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
	// The writer only assembles one frame at a time before the cork takes
	// it; output bursts are batched in the cork's borrowed buffer, so a
	// small permanent buffer is enough for control frames and short
	// messages.
	return conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(h.cork, frameBufSize)), nil
}
