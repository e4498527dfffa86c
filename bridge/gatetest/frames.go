package gatetest

import "github.com/wsbridge/wsbridge/bridge/gatetest/rawws"

// ClientFrame builds a masked client frame, as a raw-socket client that
// must be able to misbehave sends it: first is the first header byte (FIN,
// RSV bits, opcode). With declared >= 0 the header announces that length
// whatever the payload given (a frame whose rest has not arrived yet).
// The builder is rawws's, which the soak benchmark shares without testing.
func ClientFrame(first byte, payload []byte, declared int) []byte {
	return rawws.Frame(first, payload, declared)
}

// CloseBody is a close frame's payload: code, then reason.
func CloseBody(code uint16, reason string) []byte { return rawws.CloseBody(code, reason) }
