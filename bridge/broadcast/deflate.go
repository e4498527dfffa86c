package broadcast

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"sync"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// Compressed output (permessage-deflate, RFC 7692). Output is framed once
// per message for every client (frame.go); a client that negotiated
// compression is sent the same messages as compressed frames, which this
// file makes from the plain ones:
//   - without context takeover each message is compressed on its own, so
//     its compressed frame is the same for every such client: a batch
//     makes its compressed form once, the first time a client needs it,
//     and shares it (batch.deflated);
//   - with context takeover a message is compressed with the ones the
//     client was sent before as dictionary, so the client keeps its own
//     compressor and its frames are made for it alone (Client.prepare).
//
// Messages shorter than the thresholds coder/websocket uses for its own
// writes go out plain, which the extension allows (RSV1 clear): compressing
// them would gain little for the CPU.
const (
	deflateThreshold        = 512
	deflateContextThreshold = 128
)

// rsv1Bit marks a message's first frame as compressed.
const rsv1Bit = 0x40

// deflateTail ends every sync-flushed deflate block; RFC 7692 §7.2.1 has
// the sender remove it, the receiver add it back.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// flateWriters lends the writers of no-context-takeover compression: each
// is reset for every message, and holds about 1 MB, so none is kept per
// client or per group.
var flateWriters sync.Pool

// sliceWriter appends what is written to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// deflated returns the batch's frames with every message of at least
// deflateThreshold bytes compressed on its own: the form clients without
// context takeover are sent. It is made once and shared.
func (b *batch) deflated() []byte {
	b.deflateOnce.Do(func() {
		fw, _ := flateWriters.Get().(*flate.Writer)
		var z sliceWriter
		if fw == nil {
			fw, _ = flate.NewWriter(&z, flate.BestSpeed)
		}
		b.deflatedBuf = eachFrame(b.buf, make([]byte, 0, len(b.buf)/2+64), func(payload []byte) ([]byte, bool) {
			if len(payload) < deflateThreshold {
				return nil, false
			}
			z.b = z.b[:0]
			fw.Reset(&z)
			fw.Write(payload)
			fw.Flush()
			// Each message stands alone here, so one that would not shrink
			// may as well go plain.
			return z.b, len(z.b)-len(deflateTail) < len(payload)
		})
		flateWriters.Put(fw)
	})
	return b.deflatedBuf
}

// contextDeflater is one client's compressor with context takeover: its
// window holds what it compressed before.
type contextDeflater struct {
	fw *flate.Writer
	z  sliceWriter
}

// deflate returns plain frames with every message of at least
// deflateContextThreshold bytes compressed with the client's dictionary.
// Every such message is sent compressed, grown or not: the client's
// decompressor must see what the compressor saw.
func (d *contextDeflater) deflate(plain []byte) []byte {
	if d.fw == nil {
		d.fw, _ = flate.NewWriter(&d.z, flate.BestSpeed)
	}
	out := eachFrame(plain, make([]byte, 0, len(plain)/2+64), func(payload []byte) ([]byte, bool) {
		if len(payload) < deflateContextThreshold {
			return nil, false
		}
		d.z.b = d.z.b[:0]
		d.fw.Write(payload)
		d.fw.Flush()
		return d.z.b, true
	})
	if cap(d.z.b) > maxKeptMsg {
		d.z.b = nil
	}
	return out
}

// eachFrame appends the unmasked single frames in plain to dst, each
// compressed when compress says so (and returns its sync-flushed deflate
// bytes), copied otherwise.
func eachFrame(plain, dst []byte, compress func(payload []byte) ([]byte, bool)) []byte {
	for len(plain) > 0 {
		head, n := frameLength(plain)
		f := plain[:head+n]
		plain = plain[head+n:]
		z, ok := compress(f[head:])
		if !ok {
			dst = append(dst, f...)
			continue
		}
		z = bytes.TrimSuffix(z, deflateTail)
		dst = appendFrameHeader(dst, (f[0]&0x0f)|rsv1Bit, len(z))
		dst = append(dst, z...)
	}
	return dst
}

// frameLength reads the header of an unmasked frame at the start of b: its
// size and the payload's.
func frameLength(b []byte) (head, n int) {
	switch l := b[1] & 0x7f; l {
	case 126:
		return 4, int(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		return 10, int(binary.BigEndian.Uint64(b[2:10]))
	default:
		return 2, int(l)
	}
}

// setCompression sets what the client is sent, as its connection
// negotiated.
func (c *Client) setCompression(m session.Compression) {
	switch m {
	case session.CompressionNoContextTakeover:
		c.deflate = true
	case session.CompressionContextTakeover:
		c.ctxDeflate = &contextDeflater{}
	}
}

// prepare returns the batch to queue for c: b itself, shared, unless c
// compresses with context takeover, whose frames are made now, in the
// order c is sent them.
func (c *Client) prepare(b *batch) *batch {
	if c.ctxDeflate == nil {
		return b
	}
	return &batch{buf: c.ctxDeflate.deflate(b.buf), msgs: b.msgs}
}

// bytesOf is what c is sent of a batch prepared for it.
func (c *Client) bytesOf(b *batch) []byte {
	if c.deflate {
		return b.deflated()
	}
	return b.buf
}
