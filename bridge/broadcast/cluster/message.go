package cluster

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// MessageKind says what an output message does.
type MessageKind byte

const (
	ToAll   MessageKind = 'a' // Data to every client
	ToSome  MessageKind = 't' // Data to the clients in To (--envelope)
	CloseOf MessageKind = 'c' // close Client with Code and Reason (--envelope)
	End     MessageKind = 'x' // the program ended: every client gets Code
	// Owner: a program started (the first, a restart, or a new owner's);
	// Data is its ID. Only clients of the subprotocol wsbridge.broadcast.v1
	// are told. An instance that predates it logs the entry as malformed
	// and skips it.
	Owner MessageKind = 'o'
)

// Message is one output message of a group's program, as every instance
// reads it from the group's stream.
type Message struct {
	Kind   MessageKind
	Data   []byte
	To     []string
	Client string
	Code   int
	Reason string
	// Offset and Epoch are where the message is in the group's history,
	// as read from the stream (not encoded: the stream entry carries them).
	Offset uint64
	Epoch  string
}

// size is what the message costs in a buffer.
func (m *Message) size() int {
	n := len(m.Data) + len(m.Client) + len(m.Reason) + 16
	for _, id := range m.To {
		n += len(id) + 2
	}
	return n
}

// encode writes the message as one stream field: the kind byte, then
// length-prefixed parts.
func (m *Message) encode() string {
	b := make([]byte, 0, m.size())
	b = append(b, byte(m.Kind))
	switch m.Kind {
	case ToSome:
		b = binary.AppendUvarint(b, uint64(len(m.To)))
		for _, id := range m.To {
			b = appendString(b, id)
		}
	case CloseOf:
		b = appendString(b, m.Client)
		b = binary.AppendUvarint(b, uint64(m.Code))
		b = appendString(b, m.Reason)
	case End:
		b = binary.AppendUvarint(b, uint64(m.Code))
		b = appendString(b, m.Reason)
	}
	return string(append(b, m.Data...))
}

var errBadEntry = errors.New("malformed stream entry")

func decodeMessage(s string) (Message, error) {
	if s == "" {
		return Message{}, errBadEntry
	}
	m := Message{Kind: MessageKind(s[0])}
	b := []byte(s[1:])
	var ok bool
	switch m.Kind {
	case ToAll, Owner:
	case ToSome:
		var n uint64
		if n, b, ok = uvarint(b); !ok || n > uint64(len(b)) {
			return m, errBadEntry
		}
		m.To = make([]string, n)
		for i := range m.To {
			if m.To[i], b, ok = readString(b); !ok {
				return m, errBadEntry
			}
		}
	case CloseOf, End:
		if m.Kind == CloseOf {
			if m.Client, b, ok = readString(b); !ok {
				return m, errBadEntry
			}
		}
		var code uint64
		if code, b, ok = uvarint(b); !ok {
			return m, errBadEntry
		}
		m.Code = int(code)
		if m.Reason, b, ok = readString(b); !ok {
			return m, errBadEntry
		}
	default:
		return m, errBadEntry
	}
	m.Data = b
	return m, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

func readString(b []byte) (string, []byte, bool) {
	n, b, ok := uvarint(b)
	if !ok || n > uint64(len(b)) {
		return "", b, false
	}
	return string(b[:n]), b[n:], true
}

// InputKind says what an input entry is.
type InputKind byte

const (
	ClientMessage InputKind = 'm' // Data from Client
	Join          InputKind = 'j' // Client joined; Data is its join event
	Leave         InputKind = 'l' // Client left with Code
	Gap           InputKind = 'g' // Lost output messages were lost on Instance (-1: unknown)
)

// Input is one entry of a group's input stream, written by the instance a
// client is attached to and consumed, in order, by the owner.
type Input struct {
	Kind     InputKind
	Client   string
	Data     []byte
	Code     int
	Lost     int64
	Instance string
}

func (in *Input) size() int { return len(in.Data) + len(in.Client) + 32 }

// fields are the stream entry's fields; seq numbers the instance's
// entries, so that one sent twice (a retry whose answer was lost) is
// written to stdin once.
func (in *Input) fields(instance string, seq uint64) []any {
	f := []any{"k", string(in.Kind), "s", instance + ":" + strconv.FormatUint(seq, 10)}
	if in.Client != "" {
		f = append(f, "c", in.Client)
	}
	if len(in.Data) > 0 {
		f = append(f, "d", in.Data)
	}
	switch in.Kind {
	case Leave:
		f = append(f, "n", in.Code)
	case Gap:
		f = append(f, "n", in.Lost)
	}
	return f
}

func decodeInput(v map[string]any) (in Input, instance string, seq uint64, err error) {
	str := func(k string) string { s, _ := v[k].(string); return s }
	k := str("k")
	if len(k) != 1 {
		return in, "", 0, errBadEntry
	}
	in.Kind = InputKind(k[0])
	in.Client = str("c")
	if d := str("d"); d != "" {
		in.Data = []byte(d)
	}
	if n := str("n"); n != "" {
		num, _ := strconv.ParseInt(n, 10, 64)
		in.Code, in.Lost = int(num), num
	}
	s := str("s")
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			instance = s[:i]
			seq, _ = strconv.ParseUint(s[i+1:], 10, 64)
			break
		}
	}
	in.Instance = instance
	return in, instance, seq, nil
}
