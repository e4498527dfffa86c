package broadcast

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"testing"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// parseFrames splits unmasked server frames into first bytes and payloads.
func parseFrames(t *testing.T, b []byte) (firsts []byte, payloads [][]byte) {
	t.Helper()
	for len(b) > 0 {
		head, n := frameLength(b)
		firsts = append(firsts, b[0])
		payloads = append(payloads, b[head:head+n])
		b = b[head+n:]
	}
	return firsts, payloads
}

var tail = []byte{0, 0, 0xff, 0xff}

// A batch's compressed form is made once and shared by every client
// without context takeover; each long message in it inflates on its own,
// a short one stays plain.
func TestBatchDeflatedOnceAndShared(t *testing.T) {
	t.Parallel()
	msgs := []string{strings.Repeat(`{"price":1.5,"symbol":"ABC"},`, 40), "short", strings.Repeat("é", 70000)}
	var plain []byte
	for _, m := range msgs {
		plain = appendFrame(plain, opText, []byte(m))
	}
	b := &batch{buf: plain, msgs: len(msgs)}
	z := b.deflated()
	if again := b.deflated(); &again[0] != &z[0] {
		t.Fatal("the compressed form was made twice")
	}
	a := &Client{deflate: true}
	if got := a.bytesOf(b); &got[0] != &z[0] {
		t.Fatal("a client without context takeover does not share the batch's compressed form")
	}
	if plainClient := (&Client{}); &plainClient.bytesOf(b)[0] != &plain[0] {
		t.Fatal("a client without compression does not get the plain frames")
	}
	firsts, payloads := parseFrames(t, z)
	if len(payloads) != len(msgs) {
		t.Fatalf("%d frames, want %d", len(payloads), len(msgs))
	}
	for i, m := range msgs {
		compressed := firsts[i]&rsv1Bit != 0
		if compressed != (len(m) >= deflateThreshold) || firsts[i]&0x8f != finBit|opText {
			t.Fatalf("message %d (%d bytes): first byte %#x", i, len(m), firsts[i])
		}
		got := payloads[i]
		if compressed {
			var err error
			got, err = io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(payloads[i]), bytes.NewReader(append(tail, 1, 0, 0, 0xff, 0xff)))))
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if string(got) != m {
			t.Fatalf("message %d: got %d bytes back, want %d", i, len(got), len(m))
		}
	}
	if len(z) >= len(plain)/2 {
		t.Fatalf("compressed batch of %d bytes for %d plain", len(z), len(plain))
	}
}

// With context takeover a client's messages are compressed in order with
// the ones before as dictionary: they inflate as one stream, and a repeat
// costs far less than the first.
func TestContextDeflaterKeepsItsDictionary(t *testing.T) {
	t.Parallel()
	c := &Client{}
	c.setCompression(session.CompressionContextTakeover)
	if c.ctxDeflate == nil || c.deflate {
		t.Fatal("context takeover not set up")
	}
	msg := strings.Repeat(`{"price":1.5,"symbol":"ABC","n":`, 10)
	var stream bytes.Buffer
	var sizes []int
	for i := 0; i < 3; i++ {
		b := c.prepare(&batch{buf: appendFrame(nil, opText, []byte(msg)), msgs: 1})
		firsts, payloads := parseFrames(t, c.bytesOf(b))
		if len(payloads) != 1 || firsts[0]&rsv1Bit == 0 {
			t.Fatalf("message %d not compressed", i)
		}
		sizes = append(sizes, len(payloads[0]))
		stream.Write(payloads[0])
		stream.Write(tail)
	}
	r := flate.NewReader(&stream)
	for i := 0; i < 3; i++ {
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(r, got); err != nil || string(got) != msg {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if sizes[1] >= sizes[0]/2 {
		t.Fatalf("compressed sizes %v: the second message did not use the first as dictionary", sizes)
	}
}
