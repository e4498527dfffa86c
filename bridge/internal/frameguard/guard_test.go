package frameguard_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/gatetest"
	"github.com/wsbridge/wsbridge/bridge/internal/frameguard"
)

// frame builds a masked client frame of the whole payload.
func frame(first byte, payload []byte) []byte { return gatetest.ClientFrame(first, payload, -1) }

const (
	fin    = 0x80
	text   = 0x1
	binMsg = 0x2
	cont   = 0x0
	closeF = 0x8
	ping   = 0x9
	pong   = 0xA
)

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// readAll reads everything the guard passes on, one byte of input at a
// time or all at once, and the error that stopped it.
func readAll(in []byte, oneByte bool) ([]byte, error) {
	var r io.Reader = bytes.NewReader(in)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	g := frameguard.New(r, false)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := g.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestGuardPassesValidStreams(t *testing.T) {
	t.Parallel()
	big := []byte(strings.Repeat("héllo wörld ✓ 🙂 ", 5000))
	tests := []struct {
		name string
		in   []byte
	}{
		{"text", frame(fin|text, []byte("hello"))},
		{"empty text", frame(fin|text, nil)},
		{"big text", frame(fin|text, big)},
		{"binary not checked", frame(fin|binMsg, []byte{0xff, 0xfe, 0xed, 0xa0, 0x80})},
		{"fragmented text split inside a character", cat(
			frame(text, []byte("caf\xc3")),
			frame(fin|ping, []byte("p")),
			frame(cont, nil),
			frame(fin|cont, []byte("\xa9!")))},
		{"pong and ping", cat(frame(fin|pong, nil), frame(fin|ping, bytes.Repeat([]byte("x"), 125)))},
		{"close empty", frame(fin|closeF, nil)},
		{"close 1000 with reason", frame(fin|closeF, gatetest.CloseBody(1000, "bye ✓"))},
		{"close 1001", frame(fin|closeF, gatetest.CloseBody(1001, ""))},
		{"close 1011", frame(fin|closeF, gatetest.CloseBody(1011, ""))},
		{"close 1014", frame(fin|closeF, gatetest.CloseBody(1014, ""))},
		{"close 3000", frame(fin|closeF, gatetest.CloseBody(3000, ""))},
		{"close 4999", frame(fin|closeF, gatetest.CloseBody(4999, ""))},
		{"messages after messages", cat(frame(fin|text, []byte("a")), frame(fin|binMsg, []byte("b")), frame(fin|text, []byte("c")))},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			out, err := readAll(tt.in, oneByte)
			if err != nil {
				t.Errorf("%s (one byte at a time: %v): %v", tt.name, oneByte, err)
				continue
			}
			if !bytes.Equal(out, tt.in) {
				t.Errorf("%s (one byte at a time: %v): bytes changed", tt.name, oneByte)
			}
		}
	}
}

func TestGuardViolations(t *testing.T) {
	t.Parallel()
	good := frame(fin|text, []byte("before"))
	unmasked := []byte{fin | text, 0x01, 'x'}
	tests := []struct {
		name string
		bad  []byte
		code websocket.StatusCode
	}{
		{"close reason not UTF-8", frame(fin|closeF, gatetest.CloseBody(1000, "\xed\xa0\x80")), websocket.StatusInvalidFramePayloadData},
		{"close reason cut mid-character", frame(fin|closeF, gatetest.CloseBody(1000, "\xc3")), websocket.StatusInvalidFramePayloadData},
		{"close 1-byte payload", frame(fin|closeF, []byte{0x03}), websocket.StatusProtocolError},
		{"text not UTF-8", frame(fin|text, []byte("ok \xff")), websocket.StatusInvalidFramePayloadData},
		{"text ends mid-character", frame(fin|text, []byte("ok \xe2\x9c")), websocket.StatusInvalidFramePayloadData},
		{"surrogate", frame(fin|text, []byte("\xed\xa0\x80")), websocket.StatusInvalidFramePayloadData},
		{"rsv1", frame(fin|0x40|text, []byte("x")), websocket.StatusProtocolError},
		{"rsv3", frame(fin|0x10|binMsg, []byte("x")), websocket.StatusProtocolError},
		{"opcode 3", frame(fin|0x3, nil), websocket.StatusProtocolError},
		{"opcode 0xB", frame(fin|0xB, nil), websocket.StatusProtocolError},
		{"fragmented ping", frame(ping, nil), websocket.StatusProtocolError},
		{"long ping", frame(fin|ping, make([]byte, 126)), websocket.StatusProtocolError},
		{"continuation without start", frame(fin|cont, []byte("x")), websocket.StatusProtocolError},
		{"text inside a message", cat(frame(text, []byte("a")), frame(fin|text, []byte("b"))), websocket.StatusProtocolError},
		{"unmasked", unmasked, websocket.StatusProtocolError},
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		tests = append(tests, struct {
			name string
			bad  []byte
			code websocket.StatusCode
		}{fmt.Sprintf("close code %d", code), frame(fin|closeF, gatetest.CloseBody(code, "")), websocket.StatusProtocolError})
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			out, err := readAll(cat(good, tt.bad, good), oneByte)
			var v *frameguard.Violation
			if !errors.As(err, &v) {
				t.Errorf("%s: err = %v, want a violation", tt.name, err)
				continue
			}
			if v.Code != tt.code {
				t.Errorf("%s: code %d (%s), want %d", tt.name, v.Code, v.Reason, tt.code)
			}
			// Everything before the bad frame passes; nothing after it.
			if !bytes.HasPrefix(out, good) || len(out) >= len(good)+len(tt.bad) {
				t.Errorf("%s (one byte: %v): passed %d bytes, want the %d before the bad frame and not all of it", tt.name, oneByte, len(out), len(good))
			}
		}
	}
}

// TestGuardFailsEarlyInALargeFrame: invalid bytes at the start of a large
// text frame fail the connection before the rest of the frame arrives.
func TestGuardFailsEarlyInALargeFrame(t *testing.T) {
	t.Parallel()
	payload := append([]byte("\xc3\x28"), bytes.Repeat([]byte("a"), 1<<20)...)
	whole := frame(fin|text, payload)
	pr, pw := io.Pipe()
	go func() {
		pw.Write(whole[:100]) // header and the first bytes only
		// The rest never comes: the guard must not need it.
	}()
	g := frameguard.New(pr, false)
	buf := make([]byte, 64<<10)
	var err error
	for err == nil {
		_, err = g.Read(buf)
	}
	pw.Close()
	var v *frameguard.Violation
	if !errors.As(err, &v) || v.Code != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("err = %v, want 1007", err)
	}
	if g.Err() != v {
		t.Fatalf("Err() = %v", g.Err())
	}
	if _, again := g.Read(buf); again != err {
		t.Fatalf("second Read: %v, want the same violation", again)
	}
}
