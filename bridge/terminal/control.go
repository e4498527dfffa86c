package terminal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// The JSON control messages of wsbridge.tty.v1 (static/PROTOCOL.md). Text
// frames carry one object each, with a "type".

// controlMsg is a message from the client: resize (with cols and rows),
// pause or resume. Other types are ignored, so newer pages work with older
// servers.
type controlMsg struct {
	Type string `json:"type"`
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
	Seq  int64  `json:"seq"` // of "sync"
}

// Messages to the client.
type (
	helloMsg struct {
		Type      string `json:"type"` // "hello"
		Session   string `json:"session"`
		Writable  bool   `json:"writable"`
		Watcher   bool   `json:"watcher,omitempty"`
		Reconnect bool   `json:"reconnect"`
		// Transfer: the page may run file transfers (ZMODEM, trzsz) for
		// this client: it is writable and --no-transfer is off.
		Transfer bool `json:"transfer"`
	}
	titleMsg struct {
		Type  string `json:"type"` // "title"
		Title string `json:"title"`
	}
	typeMsg struct {
		Type string `json:"type"` // "replay", "live"
	}
	// syncedMsg answers a client's "sync": all the input it sent before
	// has been written to the terminal.
	syncedMsg struct {
		Type string `json:"type"` // "synced"
		Seq  int64  `json:"seq"`
	}
)

var (
	errControlTooBig = fmt.Errorf("control message larger than %d bytes", maxControlSize)
	errBadControl    = errors.New("bad control message")
)

// readControl reads one text frame and parses it. errControlTooBig closes
// the connection with 1009, errBadControl with 1007; other errors are the
// connection's.
func readControl(r io.Reader) (controlMsg, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxControlSize+1))
	if err != nil {
		return controlMsg{}, err
	}
	if len(b) > maxControlSize {
		return controlMsg{}, errControlTooBig
	}
	return parseControl(b)
}

// parseControl parses a control message: a JSON object whose known fields
// have the right types.
func parseControl(b []byte) (controlMsg, error) {
	var m controlMsg
	if !utf8.Valid(b) {
		return m, fmt.Errorf("%w: not valid UTF-8", errBadControl)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return controlMsg{}, fmt.Errorf("%w: %v", errBadControl, err)
	}
	return m, nil
}
