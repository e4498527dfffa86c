package rawws

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestFrame checks the header of each length form, the announced length
// of a cut frame, and that unmasking gives the payload back.
func TestFrame(t *testing.T) {
	for _, tt := range []struct {
		name     string
		size     int
		declared int
		length   []byte // the length bytes after the first
	}{
		{"short", 125, -1, []byte{0x80 | 125}},
		{"16-bit", 126, -1, []byte{0x80 | 126, 0, 126}},
		{"64-bit", 1 << 16, -1, []byte{0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"cut short", 3, 100, []byte{0x80 | 100}},
		{"cut, 16-bit", 3, 200, []byte{0x80 | 126, 0, 200}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte("ab c"), tt.size/4+1)[:tt.size]
			b := Frame(0x80|OpText, payload, tt.declared)
			if b[0] != 0x81 {
				t.Fatalf("first byte %#x, want 0x81", b[0])
			}
			if !bytes.Equal(b[1:1+len(tt.length)], tt.length) {
				t.Fatalf("length bytes % x, want % x", b[1:1+len(tt.length)], tt.length)
			}
			rest := b[1+len(tt.length):]
			key, body := rest[:4], rest[4:]
			if len(body) != tt.size {
				t.Fatalf("%d payload bytes, want %d", len(body), tt.size)
			}
			got := make([]byte, len(body))
			for i, c := range body {
				got[i] = c ^ key[i%4]
			}
			if !bytes.Equal(got, payload) {
				t.Fatal("unmasked payload differs")
			}
		})
	}
}

// TestCloseBody checks the code comes first, big-endian, then the reason.
func TestCloseBody(t *testing.T) {
	b := CloseBody(1001, "going")
	if binary.BigEndian.Uint16(b) != 1001 || string(b[2:]) != "going" {
		t.Fatalf("CloseBody(1001, going) = % x", b)
	}
}
