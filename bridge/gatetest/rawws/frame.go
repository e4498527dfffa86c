package rawws

import "encoding/binary"

// Opcodes of the frames a Conn sends and reads.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xa
)

// mask is the key of every frame Frame builds. Tests rely on it: the
// daemon's churn test cuts a frame whose masked bytes would be a terminal's
// quit key if the server ever passed them on.
var mask = [4]byte{0x5a, 0xa5, 0x3c, 0xc3}

// Frame builds a masked client frame: first is the first header byte (FIN,
// RSV bits, opcode), so a caller can build frames a real client never
// sends. With declared >= 0 the header announces that length whatever the
// payload given (a frame whose rest has not arrived yet).
func Frame(first byte, payload []byte, declared int) []byte {
	n := len(payload)
	if declared >= 0 {
		n = declared
	}
	b := []byte{first}
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// CloseBody is a close frame's payload: code, then reason.
func CloseBody(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}
