package broadcast

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// With --envelope the program and the daemon speak JSON lines. In (to
// stdin): a client's message {"client":"ID","data":"..."}, and events
// {"event":"join",...} and {"event":"leave",...}. Out (from stdout): each
// line an envelope, decoded by parseEnvelope.

// envelope is one line of the program's output with --envelope.
type envelope struct {
	Data   *string  `json:"data"`
	To     []string `json:"to"`
	Close  string   `json:"close"`
	Code   int      `json:"code"`
	Reason string   `json:"reason"`
}

// maxLoggedLine is how much of a bad envelope is logged.
const maxLoggedLine = 200

// parseEnvelope decodes and checks one output line: either data (to all, or
// to the clients listed in to) or a close of one client with a code of
// 4000-4999.
func parseEnvelope(line []byte) (envelope, error) {
	var e envelope
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("not a JSON envelope: %w", err)
	}
	if dec.More() {
		return e, errors.New("not a JSON envelope: more after the object")
	}
	switch {
	case e.Data != nil && e.Close != "":
		return e, errors.New(`an envelope has "data" or "close", not both`)
	case e.Data != nil:
		if e.Code != 0 || e.Reason != "" {
			return e, errors.New(`"code" and "reason" belong to a "close" envelope`)
		}
		return e, nil
	case e.Close != "":
		if e.To != nil {
			return e, errors.New(`"to" belongs to a "data" envelope`)
		}
		if e.Code < 4000 || e.Code > 4999 {
			return e, fmt.Errorf(`"code" %d: a program may close a client with 4000-4999 only`, e.Code)
		}
		if len(e.Reason) > 123 {
			return e, errors.New(`"reason" is longer than a close frame's 123 bytes`)
		}
		return e, nil
	}
	return e, errors.New(`an envelope needs "data" or "close"`)
}

// cutForLog shortens a bad line for the log.
func cutForLog(line []byte) string {
	if len(line) > maxLoggedLine {
		line = line[:maxLoggedLine]
	}
	return string(bytes.ToValidUTF8(line, []byte("\uFFFD")))
}

// appendStringField appends ,"name":"value" (or without the comma first),
// value escaped as JSON text.
func appendStringField(dst []byte, first bool, name, value string) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":"`...)
	dst = frame.AppendJSONText(dst, []byte(value))
	return append(dst, '"')
}

// appendClientMessage appends a client's message as the program reads it:
// {"client":"ID","data":"..."} and a newline.
func appendClientMessage(dst []byte, id string, msg []byte) []byte {
	dst = append(dst, '{')
	dst = appendStringField(dst, true, "client", id)
	dst = append(dst, `,"data":"`...)
	dst = frame.AppendJSONText(dst, msg)
	return append(dst, "\"}\n"...)
}

// appendJoin appends a client's join event; user only when authenticated.
func appendJoin(dst []byte, c *Client) []byte {
	dst = append(dst, `{"event":"join"`...)
	dst = appendStringField(dst, false, "client", c.info.ID)
	dst = appendStringField(dst, false, "remote", c.info.Remote)
	dst = appendStringField(dst, false, "path", c.info.Path)
	dst = appendStringField(dst, false, "query", c.info.Query)
	if c.info.User != "" {
		dst = appendStringField(dst, false, "user", c.info.User)
	}
	if c.info.Instance != "" {
		dst = appendStringField(dst, false, "instance", c.info.Instance)
	}
	return append(dst, "}\n"...)
}

// appendLeave appends a client's leave event with the close code its
// connection ended with (1006 when it just dropped).
func appendLeave(dst []byte, c *Client, code int) []byte {
	return appendLeaveOf(dst, c.info.ID, code)
}

// appendLeaveOf appends the leave event of the client with that ID.
func appendLeaveOf(dst []byte, id string, code int) []byte {
	dst = append(dst, `{"event":"leave"`...)
	dst = appendStringField(dst, false, "client", id)
	dst = append(dst, `,"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	return append(dst, "}\n"...)
}

// appendGap appends a gap event (--redis): output messages lost while
// Redis was away, on that instance ("" for the owner's own buffer); lost
// -1 when the count is unknown (Redis lost its data).
func appendGap(dst []byte, lost int64, instance string) []byte {
	dst = append(dst, `{"event":"gap","lost":`...)
	dst = strconv.AppendInt(dst, lost, 10)
	dst = appendStringField(dst, false, "instance", instance)
	return append(dst, "}\n"...)
}

// websocketCode is a checked envelope's close code.
func websocketCode(code int) websocket.StatusCode { return websocket.StatusCode(code) }
