package frameguard

import (
	"compress/flate"
	"errors"
	"io"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// InflateCheck checks the messages a connection that negotiated
// permessage-deflate reads through coder/websocket, which inflates them
// but checks neither UTF-8 nor the deflate stream's errors for a close
// code. The guard sees compressed bytes only, so for such connections the
// UTF-8 of text is checked here, on what was inflated, piece by piece as
// the session reads: a message fails at its first bad piece, and a
// decompression bomb is read in pieces the session counts against
// --maxframesize (1009) like any message. One InflateCheck serves one
// connection's messages in turn; its zero value checks nothing.
type InflateCheck struct {
	// On: the connection negotiated compression.
	On bool

	r    io.Reader
	text bool
	utf8 frame.UTF8Check
}

// Check returns the reader to read a message of type typ through: r
// itself when compression is off.
func (c *InflateCheck) Check(typ websocket.MessageType, r io.Reader) io.Reader {
	if !c.On {
		return r
	}
	c.r, c.text = r, typ == websocket.MessageText
	c.utf8.End() // a message that failed may have left a character behind
	return c
}

// Read reads the message, returning a *Violation for invalid UTF-8 or
// corrupt compressed data.
func (c *InflateCheck) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.text && !c.utf8.Feed(p[:n]) {
		return 0, invalidText("text message")
	}
	var corrupt flate.CorruptInputError
	switch {
	case err == io.EOF && c.text && !c.utf8.End():
		return 0, invalidText("text message")
	case errors.As(err, &corrupt):
		return n, &Violation{Code: websocket.StatusInvalidFramePayloadData, Reason: "compressed message is not valid deflate data"}
	}
	return n, err
}
