package frame

import (
	"context"
	"io"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Emitter turns the pieces a StreamReader returns into WebSocket messages for
// one output stream. A piece that ends a message and needs no rewriting goes
// out as is; a piece that does not end its message opens a streamed message
// that later pieces continue.
type Emitter struct {
	Conn   *websocket.Conn
	Type   websocket.MessageType
	Stream string // with --passstderr: "stdout" or "stderr", wrapped in JSON

	open    io.WriteCloser // a streamed message in progress
	scratch []byte         // borrowed while rewriting (JSON, U+FFFD)
	Dead    bool           // the client is gone; output is drained and dropped
	// Checked says text pieces are known to be valid UTF-8 as a whole
	// (length-prefixed records): they go out as they are.
	Checked bool

	Msgs, Bytes int64 // messages and bytes emitted
}

// The session context is never cancelled while writing: an expired context
// would make coder/websocket close the connection, and a message cut off
// midway must not be what ends a session.
var bg = context.Background()

// Emit sends piece, which ends its message if end is set. After a failed
// write the client is gone: the rest is counted and dropped.
func (e *Emitter) Emit(piece []byte, end bool) {
	e.Bytes += int64(len(piece))
	if end {
		e.Msgs++
	}
	if e.Dead {
		return
	}
	payload := piece
	if e.Stream != "" {
		e.scratch = e.scratchBuf()
		if e.open == nil {
			e.scratch = append(e.scratch, `{"stream":"`...)
			e.scratch = append(e.scratch, e.Stream...)
			e.scratch = append(e.scratch, `","data":"`...)
		}
		e.scratch = AppendJSONText(e.scratch, piece)
		if end {
			e.scratch = append(e.scratch, `"}`...)
		}
		payload = e.scratch
	} else if e.Type == websocket.MessageText && !e.Checked && !utf8.Valid(piece) {
		e.scratch = AppendValidUTF8(e.scratchBuf(), piece)
		payload = e.scratch
	}

	var err error
	switch {
	case end && e.open == nil:
		err = e.Conn.Write(bg, e.Type, payload)
	case e.open == nil:
		e.open, err = e.Conn.Writer(bg, e.Type)
		if err == nil {
			_, err = e.open.Write(payload)
		}
	default:
		if len(payload) > 0 {
			_, err = e.open.Write(payload)
		}
		if end {
			if cerr := e.open.Close(); err == nil {
				err = cerr
			}
			e.open = nil
		}
	}
	if err != nil {
		e.Dead = true
		e.open = nil
	}
}

func (e *Emitter) scratchBuf() []byte {
	if e.scratch == nil {
		return GetChunk()[:0]
	}
	return e.scratch[:0]
}

// Idle gives back the scratch buffer before the stream waits for more output.
func (e *Emitter) Idle() {
	if e.scratch != nil {
		PutChunk(e.scratch)
		e.scratch = nil
	}
}

// AppendJSONText appends p as the inside of a JSON string, with invalid UTF-8
// replaced by U+FFFD.
func AppendJSONText(dst, p []byte) []byte {
	const hex = "0123456789abcdef"
	for len(p) > 0 {
		c := p[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			p = p[1:]
			continue
		}
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, p[:size]...)
		}
		p = p[size:]
	}
	return dst
}
