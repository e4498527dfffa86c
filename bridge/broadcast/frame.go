package broadcast

import (
	"encoding/binary"
	"math"
	"sync"
)

// Output is framed once per message, not once per client: a server's frames
// are not masked, so the bytes are the same for every client of a group, and
// each client's writer copies ready frames to its socket.

const (
	opText   = 0x1
	opBinary = 0x2
	finBit   = 0x80
)

// appendFrame appends one unfragmented, unmasked data frame carrying
// payload.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = appendFrameHeader(dst, op, len(payload))
	return append(dst, payload...)
}

func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, finBit|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126)
		return binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// batch is output framed for clients: the frames of one read from the
// program (or one addressed message), shared read-only by every client it is
// queued for. v1 is the same output in the form of the subprotocol
// wsbridge.broadcast.v1 (resume.go), built once for all its clients, with
// the offset of each of its messages and where each ends, so that a
// resuming client can start after a given offset. A client gets a batch in
// its form (Client.formLocked): plain or v1 (past its resume offset), then
// compressed: the form's shared deflated frames without context takeover,
// or frames its own deflater makes with it.
type batch struct {
	buf  []byte
	msgs int
	seq  uint64 // the group's count of batches before this one

	// The frames compressed for clients without context takeover, made
	// once by the first of them that needs them (deflate.go).
	deflateOnce sync.Once
	deflatedBuf []byte
	v1          *batch
	offs        []uint64 // of a v1 batch: each message's offset
	ends        []int    // of a v1 batch: where each message's frame ends
}

// after is the part of a v1 batch past offset since, nil if none; the
// batch itself when all of it is.
func (b *batch) after(since uint64) *batch {
	for i, off := range b.offs {
		if off > since {
			if i == 0 {
				return b
			}
			start := b.ends[i-1]
			return &batch{buf: b.buf[start:], msgs: len(b.offs) - i}
		}
	}
	return nil
}

// ringEntry is one kept message: its offset and its plain frame.
type ringEntry struct {
	off   uint64
	frame []byte
}

// ring keeps the last messages that went to every client: --replay of
// them for a joining client and, once a client of wsbridge.broadcast.v1
// joined the group, up to resumeKeep of them within maxBytes, for a client
// that resumes after an offset. Offsets up to floor may be missing from it.
// Entries' buffers are reused once the ring is full, so a steady stream
// allocates nothing.
type ring struct {
	ents     []ringEntry // circular; len is the capacity
	head, n  int
	bytes    int
	nReplay  int // entries kept whatever their size (--replay)
	maxBytes int // bytes past which older entries go, beyond replay
	floor    uint64
}

func newRing(replay int) *ring {
	return &ring{ents: make([]ringEntry, replay), nReplay: replay, maxBytes: math.MaxInt}
}

// grow lets the ring keep up to keep entries within maxBytes; offsets
// before now stay unknown to it.
func (r *ring) grow(keep, maxBytes int) {
	if keep <= len(r.ents) {
		return
	}
	ents := make([]ringEntry, keep)
	for i := range r.n {
		ents[i] = r.ents[(r.head+i)%len(r.ents)]
	}
	r.ents, r.head, r.maxBytes = ents, 0, maxBytes
}

func (r *ring) add(off uint64, frame []byte) {
	if len(r.ents) == 0 {
		r.floor = off
		return
	}
	if r.n == len(r.ents) {
		r.evict(true) // its slot takes the new entry
	}
	e := &r.ents[(r.head+r.n)%len(r.ents)]
	e.off, e.frame = off, append(e.frame[:0], frame...)
	r.n++
	r.bytes += len(frame)
	for r.n > r.nReplay && r.bytes > r.maxBytes {
		r.evict(false)
	}
}

// evict drops the oldest entry. Its buffer stays for reuse only when its
// slot is taken at once, and is not large: slots left empty by the byte
// bound would otherwise each keep a buffer, up to resumeKeep of them.
func (r *ring) evict(reuse bool) {
	e := &r.ents[r.head]
	r.floor, r.bytes = e.off, r.bytes-len(e.frame)
	if !reuse || cap(e.frame) > maxKeptMsg {
		e.frame = nil
	}
	r.head = (r.head + 1) % len(r.ents)
	r.n--
}

// clear forgets every entry: they belong to a history that is gone, of
// which the offsets up to floor are unknown.
func (r *ring) clear(floor uint64) {
	for r.n > 0 {
		r.evict(false)
	}
	r.head, r.floor = 0, floor
}

// last is the newest n entries, oldest first.
func (r *ring) last(n int) []ringEntry {
	n = min(n, r.n)
	out := make([]ringEntry, 0, n)
	for i := r.n - n; i < r.n; i++ {
		out = append(out, r.ents[(r.head+i)%len(r.ents)])
	}
	return out
}

// since is the entries after offset off, oldest first; ok is false when
// the ring may miss some of them.
func (r *ring) since(off uint64) ([]ringEntry, bool) {
	if off < r.floor {
		return nil, false
	}
	var out []ringEntry
	for i := range r.n {
		if e := r.ents[(r.head+i)%len(r.ents)]; e.off > off {
			out = append(out, e)
		}
	}
	return out, true
}

// replay returns the --replay newest frames, oldest first, as one batch;
// nil if none.
func (r *ring) replay() *batch {
	ents := r.last(r.nReplay)
	if len(ents) == 0 {
		return nil
	}
	size := 0
	for _, e := range ents {
		size += len(e.frame)
	}
	b := &batch{buf: make([]byte, 0, size), msgs: len(ents)}
	for _, e := range ents {
		b.buf = append(b.buf, e.frame...)
	}
	return b
}

// framePayload is the payload of a frame appendFrame made.
func framePayload(f []byte) []byte {
	switch f[1] {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	}
	return f[2:]
}
