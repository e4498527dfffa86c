// Package frameguard checks a WebSocket client's byte stream for the protocol
// errors coder/websocket lets through or answers too late, before the library
// reads the bytes.
package frameguard

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// Why a guard in front of coder/websocket (v1.8.15), frame by frame:
//   - it echoes a client's close frame whose reason is not valid UTF-8
//     instead of failing the connection (RFC 6455 §5.5.1, §8.1);
//   - after failing a connection for a bad close payload it waits up to 5 s
//     for a close handshake that will never come before dropping TCP;
//   - it reads a frame's payload with io.ReadFull, so a large text frame
//     whose first bytes are invalid UTF-8 is only seen once all of it has
//     arrived, and it never checks UTF-8 at all (the session did, per message);
//   - it writes its own 1002 close the moment it sees a bad frame, ahead of
//     whatever the program is still answering to the messages before it.
//
// The guard sees every byte first. Bytes before a violation pass through; the
// violation itself is returned as a *Violation error from Read instead of
// the offending bytes, so the library never reacts to them and the session
// decides when to close and with which code.

// Violation is a protocol error of the client: the connection is to be
// failed with Code.
type Violation struct {
	Code   websocket.StatusCode
	Reason string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("websocket protocol error (close %d): %s", int(v.Code), v.Reason)
}

// Frame opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxControlPayload is the longest payload of a control frame (§5.5).
const maxControlPayload = 125

// Guard wraps the reader of a server-side WebSocket connection. It is not
// safe for concurrent use; coder/websocket has one reader at a time.
type Guard struct {
	r       io.Reader
	err     error // sticky: the violation, once seen
	deflate bool  // permessage-deflate was negotiated

	head    [14]byte // frame header being collected
	headN   int
	payload uint64 // bytes of the current frame's payload still to come
	inFrame bool   // between a complete header and the end of its payload
	opcode  byte
	fin     bool
	key     [4]byte
	keyPos  int

	// inMessage is set while a fragmented data message waits for its
	// continuation frames; textMessage when that message is text.
	inMessage, textMessage bool
	text                   frame.UTF8Check

	// closeBuf collects a close frame's payload to check it whole.
	closeBuf [maxControlPayload]byte
	closeN   int
}

// New returns a guard reading from r; deflate says permessage-deflate was
// negotiated, so a data message may come compressed (RSV1 on its first
// frame).
func New(r io.Reader, deflate bool) *Guard { return &Guard{r: r, deflate: deflate} }

// Read reads from the connection and passes on the bytes that keep to the
// protocol. The first violation is returned as a *Violation error, alone,
// after the bytes before it, and on every Read after.
func (g *Guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	ok, v := g.scan(p[:n])
	if v != nil {
		g.err = v
		if ok > 0 {
			return ok, nil
		}
		return 0, v
	}
	return n, err
}

// Err returns the violation seen, if any.
func (g *Guard) Err() *Violation {
	v, _ := g.err.(*Violation)
	return v
}

// scan follows the frames in b and returns how many leading bytes are
// correct, and the violation that stops it there, if any.
func (g *Guard) scan(b []byte) (int, *Violation) {
	i := 0
	for i < len(b) {
		if !g.inFrame {
			used, v := g.header(b[i:])
			i += used
			if v != nil {
				// Hold back the whole offending header: the library must not
				// start on a frame it would fail itself.
				return max(0, i-g.headN), v
			}
			continue
		}
		n := len(b) - i
		if uint64(n) > g.payload {
			n = int(g.payload)
		}
		if v := g.body(b[i : i+n]); v != nil {
			return i, v
		}
		i += n
		g.payload -= uint64(n)
		if g.payload == 0 {
			if v := g.endFrame(); v != nil {
				return i - n, v
			}
		}
	}
	return len(b), nil
}

// header collects a frame header from b and checks it once complete. It
// returns how many bytes of b it used.
func (g *Guard) header(b []byte) (int, *Violation) {
	used := 0
	for {
		need := headerLen(g.head[:g.headN])
		if g.headN == need {
			break
		}
		if used == len(b) {
			return used, nil
		}
		c := copy(g.head[g.headN:need], b[used:])
		g.headN += c
		used += c
	}
	h := g.head[:g.headN]
	g.headN = 0
	v := g.startFrame(h)
	if v != nil {
		g.headN = len(h) // for scan to hold the header back
	}
	return used, v
}

// headerLen is the length of the header that starts with h: 2 until the
// length byte is known.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func protocolError(format string, args ...any) *Violation {
	return &Violation{Code: websocket.StatusProtocolError, Reason: fmt.Sprintf(format, args...)}
}

func invalidText(what string) *Violation {
	return &Violation{Code: websocket.StatusInvalidFramePayloadData, Reason: what + " is not valid UTF-8"}
}

// startFrame checks a complete header and sets up its payload.
func (g *Guard) startFrame(h []byte) *Violation {
	g.fin = h[0]&0x80 != 0
	g.opcode = h[0] & 0x0f
	if rsv := h[0] & 0x30; rsv != 0 {
		return protocolError("reserved bits set (0x%02x) that no extension uses", rsv)
	}
	rsv1 := h[0]&0x40 != 0
	switch {
	case rsv1 && !g.deflate:
		return protocolError("compressed frame (RSV1) with no compression negotiated")
	case rsv1 && g.opcode >= opClose:
		return protocolError("compressed control frame (RSV1 on opcode 0x%x)", g.opcode)
	case rsv1 && g.opcode == opContinuation:
		return protocolError("RSV1 on a continuation frame: only a message's first frame says it is compressed")
	}
	if h[1]&0x80 == 0 {
		return protocolError("unmasked frame from a client")
	}
	var length uint64
	switch l := h[1] & 0x7f; l {
	case 126:
		length = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(h[2:10])
		if length>>63 != 0 {
			return protocolError("frame length has its top bit set")
		}
	default:
		length = uint64(l)
	}
	copy(g.key[:], h[len(h)-4:])
	g.keyPos = 0

	switch g.opcode {
	case opClose, opPing, opPong:
		if !g.fin {
			return protocolError("fragmented control frame")
		}
		if length > maxControlPayload {
			return protocolError("control frame payload of %d bytes (most is %d)", length, maxControlPayload)
		}
		g.closeN = 0
	case opText, opBinary:
		if g.inMessage {
			return protocolError("new data message before the previous one ended")
		}
		// A compressed message's UTF-8 can only be checked once inflated
		// (InflateCheck, after coder/websocket); an uncompressed one is
		// checked here, failing fast.
		g.inMessage, g.textMessage = true, g.opcode == opText && !rsv1
	case opContinuation:
		if !g.inMessage {
			return protocolError("continuation frame with no message to continue")
		}
	default:
		return protocolError("unknown opcode 0x%x", g.opcode)
	}
	g.payload, g.inFrame = length, true
	if length == 0 {
		return g.endFrame()
	}
	return nil
}

// body checks a piece of the current frame's payload.
func (g *Guard) body(b []byte) *Violation {
	switch {
	case g.opcode == opClose:
		n := copy(g.closeBuf[g.closeN:], b)
		g.unmask(g.closeBuf[g.closeN : g.closeN+n])
		g.closeN += n
	case g.opcode <= opBinary && g.textMessage:
		// Unmask a copy in pieces on the stack: the library unmasks the
		// real bytes itself once it reads them.
		var buf [512]byte
		for len(b) > 0 {
			n := copy(buf[:], b)
			g.unmask(buf[:n])
			if !g.text.Feed(buf[:n]) {
				return invalidText("text message")
			}
			b = b[n:]
		}
	}
	return nil
}

func (g *Guard) unmask(b []byte) {
	for i := range b {
		b[i] ^= g.key[g.keyPos&3]
		g.keyPos++
	}
}

// endFrame runs when the current frame's payload is complete.
func (g *Guard) endFrame() *Violation {
	g.inFrame = false
	switch g.opcode {
	case opClose:
		return checkClosePayload(g.closeBuf[:g.closeN])
	case opPing, opPong:
		return nil
	}
	if !g.fin {
		return nil
	}
	g.inMessage = false
	if g.textMessage && !g.text.End() {
		return invalidText("text message")
	}
	return nil
}

// checkClosePayload checks a close frame's payload: empty, or a code a peer
// may send followed by a UTF-8 reason (§5.5.1, §7.4).
func checkClosePayload(p []byte) *Violation {
	switch {
	case len(p) == 0:
		return nil
	case len(p) == 1:
		return protocolError("close frame with a 1-byte payload")
	}
	code := int(binary.BigEndian.Uint16(p))
	if !sendableCode(code) {
		return protocolError("close code %d may not be sent by a peer", code)
	}
	var s frame.UTF8Check
	if !s.Feed(p[2:]) || !s.End() {
		return invalidText("close reason")
	}
	return nil
}

// sendableCode reports whether an endpoint may put code in a close frame:
// the registered codes that are not reserved for local use, and the ranges
// for libraries (3000–3999) and applications (4000–4999).
func sendableCode(code int) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return false
}
