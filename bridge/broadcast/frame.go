package broadcast

import "encoding/binary"

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

// form is one shape in which a client receives output. Every client of a
// group is written the same bytes as every other client of its form, so a
// batch is framed once per form in use, not once per client. Today there
// is one form; another (a wrapper with offsets for a resuming subprotocol,
// compressed frames) is a constant here, built where flush seals a batch.
type form uint8

const (
	formPlain form = iota // each message as one data frame, as the program wrote it
	numForms
)

// batch is output framed for clients: the frames of one read from the
// program (or one addressed message), shared read-only by every client it is
// queued for.
type batch struct {
	frames [numForms][]byte // the batch's bytes in each form in use
	msgs   int
	seq    uint64 // the group's count of batches before this one
}

// bytes is the batch as a client of form f receives it.
func (b *batch) bytes(f form) []byte { return b.frames[f] }

// ring keeps the frames of the last messages that went to every client, for
// --replay. Entries are copies whose buffers are reused once the ring is
// full, so a steady stream allocates nothing.
type ring struct {
	frames [][]byte
	next   int
	full   bool
}

func newRing(n int) *ring {
	if n <= 0 {
		return nil
	}
	return &ring{frames: make([][]byte, n)}
}

func (r *ring) add(frame []byte) {
	if r == nil {
		return
	}
	r.frames[r.next] = append(r.frames[r.next][:0], frame...)
	r.next++
	if r.next == len(r.frames) {
		r.next, r.full = 0, true
	}
}

// replay returns the kept frames, oldest first, as one batch; nil if none.
func (r *ring) replay() *batch {
	if r == nil || (!r.full && r.next == 0) {
		return nil
	}
	order := r.frames[:r.next]
	if r.full {
		order = append(append([][]byte(nil), r.frames[r.next:]...), r.frames[:r.next]...)
	}
	size := 0
	for _, f := range order {
		size += len(f)
	}
	buf := make([]byte, 0, size)
	for _, f := range order {
		buf = append(buf, f...)
	}
	b := &batch{msgs: len(order)}
	b.frames[formPlain] = buf
	return b
}
