package frameguard_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frameguard"
)

const rsv1 = 0x40

// deflated is payload as a permessage-deflate message body.
func deflated(t *testing.T, payload []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(payload)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

func guardRead(in []byte, deflate bool) ([]byte, error) {
	g := frameguard.New(bytes.NewReader(in), deflate)
	out, err := io.ReadAll(g)
	return out, err
}

// With compression negotiated, RSV1 marks a data message's first frame as
// compressed: such a message passes unchecked (its bytes are not text
// until inflated), its continuations carry no RSV1, and an uncompressed
// text message beside it is still checked as it arrives.
func TestGuardCompressedMessages(t *testing.T) {
	t.Parallel()
	z := deflated(t, []byte(strings.Repeat("héllo ", 200)))
	good := cat(
		frame(fin|rsv1|text, z),
		frame(rsv1|text, z[:10]), frame(fin|ping, nil), frame(fin|cont, z[10:]),
		frame(fin|rsv1|binMsg, z),
		frame(fin|text, []byte("plain ✓")),
	)
	if out, err := guardRead(good, true); err != nil || !bytes.Equal(out, good) {
		t.Fatalf("compressed stream: %d of %d bytes passed, err %v", len(out), len(good), err)
	}
	tests := []struct {
		name    string
		bad     []byte
		deflate bool
		reason  string
	}{
		{"rsv1 without negotiation", frame(fin|rsv1|text, z), false, "no compression negotiated"},
		{"rsv1 on a ping", frame(fin|rsv1|ping, nil), true, "control frame"},
		{"rsv1 on a close", frame(fin|rsv1|closeF, nil), true, "control frame"},
		{"rsv1 on a continuation", cat(frame(rsv1|text, z[:10]), frame(fin|rsv1|cont, z[10:])), true, "continuation"},
		{"rsv2 even negotiated", frame(fin|0x20|text, z), true, "reserved bits"},
	}
	for _, tt := range tests {
		before := frame(fin|text, []byte("before"))
		out, err := guardRead(cat(before, tt.bad), tt.deflate)
		var v *frameguard.Violation
		if !errors.As(err, &v) || v.Code != websocket.StatusProtocolError || !strings.Contains(v.Reason, tt.reason) {
			t.Errorf("%s: err = %v, want 1002 about %q", tt.name, err, tt.reason)
			continue
		}
		if !bytes.HasPrefix(out, before) {
			t.Errorf("%s: the frame before was not passed", tt.name)
		}
	}
	// Uncompressed text keeps failing fast with compression negotiated.
	if _, err := guardRead(frame(fin|text, []byte("bad \xff")), true); err == nil {
		t.Fatal("invalid uncompressed text passed a guard with compression negotiated")
	}
}

// InflateCheck checks what coder/websocket inflated: UTF-8 of text, piece
// by piece, and a deflate stream that is corrupt.
func TestInflateCheck(t *testing.T) {
	t.Parallel()
	read := func(typ websocket.MessageType, body string) error {
		c := frameguard.InflateCheck{On: true}
		_, err := io.ReadAll(c.Check(typ, strings.NewReader(body)))
		return err
	}
	if err := read(websocket.MessageText, "café ✓"); err != nil {
		t.Fatalf("valid text: %v", err)
	}
	if err := read(websocket.MessageBinary, "\xff\xfe"); err != nil {
		t.Fatalf("binary is not text: %v", err)
	}
	for _, bad := range []string{"bad \xff", "ends inside \xe2\x9c"} {
		var v *frameguard.Violation
		if err := read(websocket.MessageText, bad); !errors.As(err, &v) || v.Code != websocket.StatusInvalidFramePayloadData {
			t.Errorf("%q: err = %v, want 1007", bad, err)
		}
	}
	c := frameguard.InflateCheck{On: true}
	_, err := io.ReadAll(c.Check(websocket.MessageBinary, flate.NewReader(bytes.NewReader([]byte{0xff, 0xff, 0xff}))))
	var v *frameguard.Violation
	if !errors.As(err, &v) || v.Code != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("corrupt deflate: err = %v, want 1007", err)
	}
	off := frameguard.InflateCheck{}
	r := strings.NewReader("x")
	if off.Check(websocket.MessageText, r) != io.Reader(r) {
		t.Fatal("InflateCheck off wraps the reader")
	}
}
