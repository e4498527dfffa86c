package frame

import (
	"encoding/binary"
	"fmt"
)

// Length-prefixed records (--framing=length): each message, both ways, is a
// 5-byte header, its type (RecordText or RecordBinary) and its payload's
// length as 4 bytes big-endian, then the payload. Unlike lines, records
// keep every message whole and typed: an empty message, a message with
// newlines and a text message beside a binary one all cross intact.
const (
	RecordHeaderSize = 5
	RecordText       = 1
	RecordBinary     = 2
)

// PutRecordHeader writes the header of a record of type typ carrying n
// bytes into h, which must hold RecordHeaderSize bytes.
func PutRecordHeader(h []byte, typ byte, n int) {
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:RecordHeaderSize], uint32(n))
}

// RecordError is a malformed record from the program: what is wrong, and
// the byte offset in its output where the record starts.
type RecordError struct {
	What   string
	Offset int64
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("malformed record at byte offset %d of stdout: %s", e.Offset, e.What)
}

// recordState is where a StreamReader in SplitRecords mode stands.
type recordState struct {
	off      int64  // bytes of the stream consumed so far
	start    int64  // offset of the current record's header
	in       bool   // inside a record's payload
	typ      byte   // the current record's type
	left     uint32 // payload bytes of the current record still to come
	text     UTF8Check
	err      *RecordError
	lastType byte // the type of the record the last piece belongs to
}

// RecordType is the type (RecordText or RecordBinary) of the record the
// last piece Next returned belongs to.
func (s *StreamReader) RecordType() byte { return s.rec.lastType }

// Err is the malformed record that stopped Next, if any: nothing after it
// is returned.
func (s *StreamReader) Err() error {
	if s.rec.err == nil {
		return nil
	}
	return s.rec.err
}

func (s *StreamReader) recordFailed(what string, args ...any) (piece []byte, end, ok bool) {
	s.rec.err = &RecordError{What: fmt.Sprintf(what, args...), Offset: s.rec.start}
	return nil, false, false
}

// nextRecord is Next for SplitRecords. A record that fits in the buffer is
// waited for and returned whole (one frame); a longer one streams out in
// pieces as it arrives. Text is checked before it is returned, so no
// invalid byte reaches a client: the first malformed record stops the
// reader (Err) with everything before it already returned.
func (s *StreamReader) nextRecord() (piece []byte, end, ok bool) {
	r := &s.rec
	if r.err != nil {
		return nil, false, false
	}
	data := s.buf[s.r:s.w]
	if !r.in {
		r.start = r.off
		if len(data) < RecordHeaderSize {
			if s.eof && len(data) > 0 {
				return s.recordFailed("output ended inside a record header (%d of %d bytes)", len(data), RecordHeaderSize)
			}
			return nil, false, false
		}
		typ, n := data[0], binary.BigEndian.Uint32(data[1:RecordHeaderSize])
		switch {
		case typ != RecordText && typ != RecordBinary:
			return s.recordFailed("unknown record type %d (1 is text, 2 is binary)", typ)
		case s.maxMsg > 0 && int64(n) > int64(s.maxMsg):
			return s.recordFailed("record of %d bytes is over --maxframesize=%d", n, s.maxMsg)
		}
		whole := RecordHeaderSize + int(n)
		if len(data) < whole && whole <= len(s.buf) {
			if s.eof {
				return s.recordFailed("output ended inside a record (%d payload bytes missing)", whole-len(data))
			}
			return nil, false, false // it fits: wait for all of it
		}
		r.in, r.typ, r.left = true, typ, n
		s.r += RecordHeaderSize
		r.off += RecordHeaderSize
		data = data[RecordHeaderSize:]
	}
	r.lastType = r.typ
	if r.left == 0 {
		r.in = false
		return data[:0], true, true
	}
	if len(data) == 0 {
		if s.eof {
			return s.recordFailed("output ended inside a record (%d payload bytes missing)", r.left)
		}
		return nil, false, false
	}
	p := data[:min(len(data), int(r.left))]
	if r.typ == RecordText && !r.text.Feed(p) {
		return s.recordFailed("text record is not valid UTF-8")
	}
	r.left -= uint32(len(p))
	if r.left == 0 && r.typ == RecordText && !r.text.End() {
		return s.recordFailed("text record is not valid UTF-8 (it ends inside a character)")
	}
	s.r += len(p)
	r.off += int64(len(p))
	if r.left == 0 {
		r.in = false
		return p, true, true
	}
	return p, false, true
}
