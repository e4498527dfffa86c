package gatetest

import "encoding/binary"

// ClientFrame builds a masked client frame, as a raw-socket client that
// must be able to misbehave sends it: first is the first header byte (FIN,
// RSV bits, opcode). With declared >= 0 the header announces that length
// whatever the payload given (a frame whose rest has not arrived yet).
func ClientFrame(first byte, payload []byte, declared int) []byte {
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
	key := [4]byte{0x5a, 0xa5, 0x3c, 0xc3}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// CloseBody is a close frame's payload: code, then reason.
func CloseBody(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}
