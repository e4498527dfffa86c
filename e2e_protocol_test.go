package main_test

// RFC 6455 conformance through the real binary, with a raw-socket client:
// a WebSocket library would refuse to send the bad frames, or hide what the
// server answers and when it drops TCP.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// Frame opcodes and header bits a raw client sends.
const (
	finBit   = 0x80
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
)

// clientFrame builds a masked client frame; first is the first header byte
// (FIN, RSV bits, opcode). With declared >= 0 the header announces that
// length whatever the payload given (a frame that has not all arrived yet).
func clientFrame(first byte, payload []byte, declared int) []byte {
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

func closeBody(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// serverFrame is one frame the server sent.
type serverFrame struct {
	opcode  byte
	payload []byte
}

// closeCode is the code of a close frame, 1005 if it has none.
func (f serverFrame) closeCode() int {
	if len(f.payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// rawResult is what a raw client saw: the server's frames up to its close
// frame, and how long after that close frame the server dropped TCP (-1 if
// it had not within the deadline).
type rawResult struct {
	frames   []serverFrame
	closed   *serverFrame
	dropWait time.Duration
}

// readServer reads the server's frames until its close frame, then waits
// for EOF, all within deadline.
func readServer(t testing.TB, conn net.Conn, deadline time.Duration) rawResult {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(deadline))
	br := bufio.NewReader(conn)
	var res rawResult
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("reading a frame header: %v (frames so far: %d)", err, len(res.frames))
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			io.ReadFull(br, ext[:])
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			io.ReadFull(br, ext[:])
			n = binary.BigEndian.Uint64(ext[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatalf("reading a frame payload: %v", err)
		}
		f := serverFrame{opcode: h[0] & 0x0f, payload: payload}
		if f.opcode != opClose {
			res.frames = append(res.frames, f)
			continue
		}
		res.closed = &f
		break
	}
	start := time.Now()
	res.dropWait = -1
	for {
		_, err := br.ReadByte()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			res.dropWait = time.Since(start)
			return res
		}
		if err != nil {
			return res // the deadline: still open
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestProtocolBadCloseFrames: a close frame a peer may not send fails the
// connection with 1002 (1007 for a reason that is not UTF-8), and TCP goes
// at once rather than after coder/websocket's 5 s wait for a handshake.
func TestProtocolBadCloseFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	tests := []struct {
		name    string
		payload []byte
		code    int
	}{
		{"reason not UTF-8", closeBody(1000, "\xed\xa0\x80"), 1007},
		{"reason cut mid-character", closeBody(1000, "ok\xe2\x82"), 1007},
		{"1-byte payload", []byte{0x03}, 1002},
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1100, 2000, 2999, 5000} {
		tests = append(tests, struct {
			name    string
			payload []byte
			code    int
		}{fmt.Sprintf("code %d", code), closeBody(code, ""), 1002})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := rawHandshake(t, s.addr, "/")
			defer conn.Close()
			conn.Write(clientFrame(finBit|opClose, tt.payload, -1))
			res := readServer(t, conn, 4*time.Second)
			if got := res.closed.closeCode(); got != tt.code {
				t.Fatalf("close %d %q, want %d", got, res.closed.payload, tt.code)
			}
			if res.dropWait < 0 || res.dropWait > time.Second {
				t.Fatalf("TCP dropped %v after the close frame, want within 1s", res.dropWait)
			}
		})
	}
	// A valid close is answered with the same code, as before.
	conn := rawHandshake(t, s.addr, "/")
	defer conn.Close()
	conn.Write(clientFrame(finBit|opClose, closeBody(1000, "bye ✓"), -1))
	if got := readServer(t, conn, 4*time.Second).closed.closeCode(); got != 1000 {
		t.Fatalf("valid close answered with %d", got)
	}
}

// TestProtocolInvalidTextFailsFast: a large text frame whose first bytes are
// not UTF-8 is failed with 1007 as soon as they arrive, not once the whole
// frame has.
func TestProtocolInvalidTextFailsFast(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	conn := rawHandshake(t, s.addr, "/")
	defer conn.Close()
	start := append([]byte("\xc3\x28"), make([]byte, 4096)...)
	// 1 MiB announced, 4 KiB sent: the rest never comes.
	conn.Write(clientFrame(finBit|opText, start, 1<<20)[:4096])
	res := readServer(t, conn, 3*time.Second)
	if got := res.closed.closeCode(); got != 1007 {
		t.Fatalf("close %d, want 1007", got)
	}
}

// TestProtocolAnswerBeforeProtocolError: the program's answer to a message
// that came before a protocol error reaches the client before the close.
func TestProtocolAnswerBeforeProtocolError(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	tests := []struct {
		name string
		bad  []byte
	}{
		{"reserved bits", clientFrame(finBit|0x40|opText, []byte("x"), -1)},
		{"unknown opcode", clientFrame(finBit|0x3, nil, -1)},
		{"fragmented ping", clientFrame(opPing, nil, -1)},
		{"continuation without start", clientFrame(finBit|opCont, []byte("x"), -1)},
		{"text inside a fragmented message", append(clientFrame(opText, []byte("a"), -1), clientFrame(finBit|opText, []byte("b"), -1)...)},
		{"ping over 125 bytes", clientFrame(finBit|opPing, make([]byte, 126), -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := rawHandshake(t, s.addr, "/")
			defer conn.Close()
			// One write: the valid message and the bad frame arrive together.
			conn.Write(append(clientFrame(finBit|opText, []byte("hello"), -1), tt.bad...))
			res := readServer(t, conn, 4*time.Second)
			if len(res.frames) != 1 || string(res.frames[0].payload) != "hello" {
				t.Fatalf("frames before the close: %q, want the echo of hello", res.frames)
			}
			if got := res.closed.closeCode(); got != 1002 {
				t.Fatalf("close %d, want 1002", got)
			}
			if res.dropWait < 0 || res.dropWait > time.Second {
				t.Fatalf("TCP dropped %v after the close frame, want within 1s", res.dropWait)
			}
		})
	}
}

// TestProtocolBinaryModeChecksText: with --binary, a text frame must still
// be UTF-8 (RFC 6455 §8.1); binary frames are passed on unchecked.
func TestProtocolBinaryModeChecksText(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--binary", "cat")
	conn := rawHandshake(t, s.addr, "/")
	defer conn.Close()
	conn.Write(clientFrame(finBit|opBinary, []byte("\xff\xfe"), -1))
	conn.Write(clientFrame(finBit|opText, []byte("\xff\xfe"), -1))
	res := readServer(t, conn, 4*time.Second)
	if len(res.frames) != 1 || string(res.frames[0].payload) != "\xff\xfe" || res.frames[0].opcode != opBinary {
		t.Fatalf("frames before the close: %q, want the binary echo", res.frames)
	}
	if got := res.closed.closeCode(); got != 1007 {
		t.Fatalf("close %d, want 1007", got)
	}
}
