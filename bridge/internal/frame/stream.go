package frame

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"unicode/utf8"
)

// Split is how a StreamReader cuts a stream into messages.
type Split int

const (
	// SplitLines ends a message at each newline (a CRLF counts as one).
	SplitLines Split = iota
	// SplitRaw makes each read one message (--binary).
	SplitRaw
	// SplitNUL ends a message at each NUL byte (--framing=nul).
	SplitNUL
	// SplitRecords reads length-prefixed records (--framing=length, see
	// record.go).
	SplitRecords
)

// StreamReader reads a child's output stream in large chunks and cuts it
// into the pieces that become WebSocket messages: lines in text mode, raw
// chunks in binary mode, NUL-terminated messages or length-prefixed
// records. Memory is bounded by one chunk whatever the child writes; a
// message longer than the buffer leaves as fragments of one streamed
// message, and a line longer than maxMsg is split into several messages.
type StreamReader struct {
	f      *os.File
	rc     syscall.RawConn // where reads go through the descriptor (Unix)
	split  Split
	maxMsg int // 0: no limit
	rec    recordState

	buf    []byte // borrowed while data is held; nil when idle
	r, w   int    // buf[r:w] is read but not yet returned
	msgLen int    // bytes of the current message already returned
	eof    bool
}

// NewStreamReader reads f, a non-blocking stream of the child; maxMsg bounds a
// message (0: no limit).
func NewStreamReader(f *os.File, binary bool, maxMsg int) (*StreamReader, error) {
	split := SplitLines
	if binary {
		split = SplitRaw
	}
	return NewSplitReader(f, split, maxMsg)
}

// NewSplitReader is NewStreamReader cutting messages as split says.
func NewSplitReader(f *os.File, split Split, maxMsg int) (*StreamReader, error) {
	s := &StreamReader{f: f, split: split, maxMsg: maxMsg}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// Fill waits for the child to write, then reads as much as fits. A buffer is
// borrowed only once data is ready, so a session waiting on a quiet child
// holds none. It returns io.EOF once the stream has ended; the error of a
// closed or broken stream (EIO from a terminal whose child exited) counts as
// the end too. A read deadline on the file that passes returns
// os.ErrDeadlineExceeded, and the stream can be read on.
func (s *StreamReader) Fill() error {
	_, err := s.fill(true)
	return err
}

// FillNow is Fill without the wait, for a reader woken by
// readiness.OnReadable: got is false when nothing was there to read.
func (s *StreamReader) FillNow() (got bool, err error) {
	return s.fill(false)
}

func (s *StreamReader) fill(wait bool) (got bool, err error) {
	if s.eof {
		return false, io.EOF
	}
	if s.r == s.w {
		s.r, s.w = 0, 0
		s.Release()
	} else if s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	got, err = s.read(wait)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return got, err // the caller's wait ran out; the stream goes on
	}
	if err != nil {
		s.eof = true
		if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EIO) && !errors.Is(err, os.ErrClosed) {
			return got, err
		}
		return got, io.EOF
	}
	return got, nil
}

// Release gives back the buffer; the reader borrows a new one when it
// reads again.
func (s *StreamReader) Release() {
	if s.buf != nil {
		PutChunk(s.buf)
		s.buf = nil
	}
}

// Next returns the next piece of output held in the buffer. end reports that
// the piece completes a message. ok is false when nothing more can be
// returned until fill reads again.
func (s *StreamReader) Next() (piece []byte, end, ok bool) {
	if s.split == SplitRecords {
		return s.nextRecord()
	}
	data := s.buf[s.r:s.w]
	if s.split == SplitRaw {
		if len(data) == 0 {
			return nil, false, false
		}
		if s.maxMsg > 0 && len(data) > s.maxMsg {
			data = data[:s.maxMsg]
		}
		s.r += len(data)
		return data, true, true
	}

	room := len(data)
	if s.maxMsg > 0 {
		room = min(room, s.maxMsg-s.msgLen)
	}
	// A line exactly as long as the room still ends here: look one byte
	// past it for the newline, two for a CRLF.
	delim := byte('\n')
	if s.split == SplitNUL {
		delim = 0
	}
	window := data[:min(len(data), room+2)]
	if i := bytes.IndexByte(window, delim); i >= 0 {
		line := data[:i]
		if i > 0 && line[i-1] == '\r' && delim == '\n' {
			line = line[:i-1]
		}
		if len(line) <= room {
			s.r += i + 1
			s.msgLen = 0
			return line, true, true
		}
	}
	if s.maxMsg > 0 && len(data) > room {
		// The message is full and its line goes on: end this message at a
		// character boundary and continue the line in the next one.
		cut := RuneCut(data, room)
		s.r += cut
		s.msgLen = 0
		return data[:cut], true, true
	}
	if s.eof {
		// The last line had no newline: deliver it (websocketd drops it),
		// and close a message left open by earlier fragments.
		if len(data) == 0 && s.msgLen == 0 {
			return nil, false, false
		}
		s.r = s.w
		s.msgLen = 0
		return data, true, true
	}
	if len(s.buf) > 0 && s.r == 0 && s.w == len(s.buf) {
		// A line longer than the buffer: stream what we have as a fragment,
		// holding back a split character or a CR that may start a CRLF.
		cut := RuneCut(data, len(data))
		if cut > 0 && data[cut-1] == '\r' && delim == '\n' {
			cut--
		}
		if cut == 0 {
			cut = len(data)
		}
		s.r += cut
		s.msgLen += cut
		return data[:cut], false, true
	}
	return nil, false, false
}

// RuneCut returns a cut point at or before n that does not split a UTF-8
// encoded character, so each message's text stays valid on its own. It never
// returns 0 for n > 0, so a caller always makes progress; invalid bytes are
// cut anywhere, as they become U+FFFD regardless.
func RuneCut(p []byte, n int) int {
	if i := IncompleteTail(p[:n]); i > 0 {
		return i
	}
	return n
}

// IncompleteTail returns where a character that begins validly but is cut
// short at the end of p starts, or len(p) if p does not end that way.
func IncompleteTail(p []byte) int {
	for i := len(p) - 1; i >= 0 && i > len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if p[i] >= 0xC2 && p[i] <= 0xF4 && !utf8.FullRune(p[i:]) {
				return i
			}
			break
		}
	}
	return len(p)
}

// AppendValidUTF8 appends p to dst with each byte that is not part of a valid
// UTF-8 sequence replaced by U+FFFD. Browsers fail the whole connection (1007)
// on an invalid text frame, so a stray byte from the child must not reach one.
func AppendValidUTF8(dst, p []byte) []byte {
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, p[:size]...)
		}
		p = p[size:]
	}
	return dst
}
