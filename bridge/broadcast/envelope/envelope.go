// Package envelope is the JSON-lines protocol a broadcast program speaks
// with --envelope: the envelopes it writes, and the client messages and
// events it reads.
package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// In (to stdin): a client's message {"client":"ID","data":"..."}, and
// events {"event":"join",...}, {"event":"leave",...} and (--redis)
// {"event":"gap",...}. Out (from stdout): each line an envelope, decoded
// by Parse.

// Output is one line of the program's output: data for every client, or
// for those in To, or the close of one client.
type Output struct {
	Data   *string  `json:"data"`
	To     []string `json:"to"`
	Close  string   `json:"close"`
	Code   int      `json:"code"`
	Reason string   `json:"reason"`
}

// maxLoggedLine is how much of a bad envelope is logged.
const maxLoggedLine = 200

// Parse decodes and checks one output line: either data (to all, or to the
// clients listed in to) or a close of one client with a code of 4000-4999.
func Parse(line []byte) (Output, error) {
	var e Output
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

// CutForLog shortens a bad line for the log.
func CutForLog(line []byte) string {
	if len(line) > maxLoggedLine {
		line = line[:maxLoggedLine]
	}
	return string(bytes.ToValidUTF8(line, []byte("\uFFFD")))
}

// ClientInfo is what the program learns of a client, in its join event.
type ClientInfo struct {
	ID     string // unique in the daemon
	Remote string // IP:PORT
	Path   string // the request path
	Query  string // the query string, without '?'
	User   string // the authenticated user; "" without authentication
	// Claims are a JWT's verified claims, a JSON object (JWT_CLAIMS); ""
	// without.
	Claims string
	// Instance is the daemon the client is attached to (--redis).
	Instance string
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

// AppendMessage appends a client's message as the program reads it:
// {"client":"ID","data":"..."} and a newline.
func AppendMessage(dst []byte, id string, msg []byte) []byte {
	dst = append(dst, '{')
	dst = appendStringField(dst, true, "client", id)
	dst = append(dst, `,"data":"`...)
	dst = frame.AppendJSONText(dst, msg)
	return append(dst, "\"}\n"...)
}

// AppendJoin appends a client's join event; user only when authenticated,
// claims only with a JWT, instance only with --redis.
func AppendJoin(dst []byte, c ClientInfo) []byte {
	dst = append(dst, `{"event":"join"`...)
	dst = appendStringField(dst, false, "client", c.ID)
	dst = appendStringField(dst, false, "remote", c.Remote)
	dst = appendStringField(dst, false, "path", c.Path)
	dst = appendStringField(dst, false, "query", c.Query)
	if c.User != "" {
		dst = appendStringField(dst, false, "user", c.User)
	}
	if c.Claims != "" && json.Valid([]byte(c.Claims)) {
		// An object, as verified: the program reads claims, not a string.
		dst = append(dst, `,"claims":`...)
		dst = append(dst, c.Claims...)
	}
	if c.Instance != "" {
		dst = appendStringField(dst, false, "instance", c.Instance)
	}
	return append(dst, "}\n"...)
}

// AppendLeave appends the leave event of the client with that ID, with
// the close code its connection ended with (1006 when it just dropped).
func AppendLeave(dst []byte, id string, code int) []byte {
	dst = append(dst, `{"event":"leave"`...)
	dst = appendStringField(dst, false, "client", id)
	dst = append(dst, `,"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	return append(dst, "}\n"...)
}

// AppendGap appends a gap event (--redis): output messages lost while
// Redis was away, on that instance ("" for the owner's own buffer); lost
// -1 when the count is unknown (Redis lost its data).
func AppendGap(dst []byte, lost int64, instance string) []byte {
	dst = append(dst, `{"event":"gap","lost":`...)
	dst = strconv.AppendInt(dst, lost, 10)
	dst = appendStringField(dst, false, "instance", instance)
	return append(dst, "}\n"...)
}
