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
		if b == nil || !bytes.Equal(b.bytes(formPlain), buf) || b.msgs != len(msgs) {
			t.Fatalf("replay %+v, want frames of %q", b, msgs)
		}
	}
	for i, m := range []string{"1", "2", "3", "4", "5"} {
		r.add(appendFrame(nil, opText, []byte(m)))
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
