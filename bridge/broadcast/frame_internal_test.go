package broadcast

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestAppendFrame(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		payload := bytes.Repeat([]byte{'x'}, n)
		f := appendFrame(nil, opText, payload)
		if f[0] != 0x81 {
			t.Fatalf("n=%d: first byte %#x, want FIN|text", n, f[0])
		}
		var length, header int
		switch f[1] {
		case 126:
			length, header = int(binary.BigEndian.Uint16(f[2:4])), 4
		case 127:
			length, header = int(binary.BigEndian.Uint64(f[2:10])), 10
		default:
			length, header = int(f[1]), 2
		}
		if f[1]&0x80 != 0 || length != n || len(f) != header+n {
			t.Fatalf("n=%d: header %x says %d bytes, frame is %d", n, f[:header], length, len(f))
		}
	}
}

func TestRingReplaysTheLastInOrder(t *testing.T) {
	t.Parallel()
	if newRing(0).replay() != nil {
		t.Fatal("no ring, yet a replay")
	}
	r := newRing(3)
	if r.replay() != nil {
		t.Fatal("an empty ring replays something")
	}
	want := func(msgs ...string) {
		t.Helper()
		var buf []byte
		for _, m := range msgs {
			buf = appendFrame(buf, opText, []byte(m))
		}
		b := r.replay()
		if b == nil || !bytes.Equal(b.buf, buf) || b.msgs != len(msgs) {
			t.Fatalf("replay %+v, want frames of %q", b, msgs)
		}
	}
	for i, m := range []string{"1", "2", "3", "4", "5"} {
		r.add(uint64(i+1), appendFrame(nil, opText, []byte(m)))
		switch i {
		case 1:
			want("1", "2")
		case 2:
			want("1", "2", "3")
		case 4:
			want("3", "4", "5")
		}
	}
}

// Once grown for resuming clients, the ring keeps more than --replay
// within its byte bound, and says from which offset on it has them all.
func TestRingResumesAfterAnOffset(t *testing.T) {
	t.Parallel()
	r := newRing(2)
	frame := func(i int) []byte { return appendFrame(nil, opText, []byte{byte('a' + i%26)}) }
	r.add(1, frame(1))
	r.grow(4, 3*len(frame(0)))
	for i := 2; i <= 6; i++ {
		r.add(uint64(i), frame(i))
	}
	// Three frames fit the bytes: 4, 5, 6 are kept, 3 was the last to go.
	if _, ok := r.since(2); ok {
		t.Fatal("the ring claims it has what follows offset 2, but 3 went")
	}
	ents, ok := r.since(3)
	if !ok || len(ents) != 3 || ents[0].off != 4 || ents[2].off != 6 {
		t.Fatalf("since(3) = %+v, %v; want offsets 4-6", ents, ok)
	}
	if ents, ok := r.since(6); !ok || len(ents) != 0 {
		t.Fatalf("since(6) = %+v, %v; want nothing, known", ents, ok)
	}
	if b := r.replay(); b == nil || b.msgs != 2 {
		t.Fatalf("replay %+v, want the last 2", b)
	}
	r.clear(9)
	if _, ok := r.since(8); ok || r.replay() != nil {
		t.Fatal("a cleared ring still resumes or replays")
	}
}

// A v1 batch cut after an offset keeps only the later messages' frames.
func TestBatchAfter(t *testing.T) {
	t.Parallel()
	v := v1Builder{}
	b := &batch{}
	for off := uint64(5); off <= 7; off++ {
		b.buf = v.data(b.buf, off, "e", []byte("x"))
		b.offs, b.ends = append(b.offs, off), append(b.ends, len(b.buf))
		b.msgs++
	}
	if b.after(4) != b || b.after(7) != nil {
		t.Fatal("after(4) should be all of it, after(7) nothing")
	}
	got := b.after(5)
	want := v.data(v.data(nil, 6, "e", []byte("x")), 7, "e", []byte("x"))
	if got == nil || !bytes.Equal(got.buf, want) || got.msgs != 2 {
		t.Fatalf("after(5) = %q, want %q", got.buf, want)
	}
}

// Slots the byte bound leaves empty keep no buffer.
func TestRingByteBoundKeepsNoIdleBuffers(t *testing.T) {
	t.Parallel()
	r := newRing(0)
	r.grow(64, 100_000)
	big := appendFrame(nil, opText, bytes.Repeat([]byte{'x'}, 30_000))
	for i := 1; i <= 500; i++ {
		r.add(uint64(i), big)
	}
	held := 0
	for _, e := range r.ents {
		held += cap(e.frame)
	}
	if r.n != 3 || held > 4*len(big)+4096 {
		t.Fatalf("%d entries kept, %d bytes of buffers held; want 3 and about their size", r.n, held)
	}
}
