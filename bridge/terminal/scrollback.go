package terminal

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// DefaultScrollback is how much of a terminal's latest output is kept for
// replay when Options.Scrollback is 0.
const DefaultScrollback = 256 << 10

// scrollback keeps the last size bytes a terminal program wrote, raw, so a
// client that attaches later (--reconnect, --shared) can redraw the screen:
// the page resets its terminal, then plays the bytes back.
//
// Replaying only the tail of a stream has two hazards, and both are handled
// by parsing the bytes that fall off the front of the ring (and only those):
//
//   - The ring may begin inside an escape sequence or a UTF-8 character.
//     The parser knows where the stream was when the ring was cut, so the
//     replay starts where that sequence or character ends.
//   - Modes set long ago (alternate screen, application cursor keys, keypad,
//     hidden cursor, mouse reporting, bracketed paste) may no longer be in
//     the ring. The parser tracks them, and the replay starts with the
//     sequences that set them again, as they were at the ring's start.
//
// Everything else (colours, cursor position, scroll region) is re-applied
// by the output itself soon enough; a full-screen program redraws on the
// resize the page sends after attaching if its size changed. Without a
// server-side terminal emulator this is as exact as a byte log can be.
type scrollback struct {
	size  int
	buf   []byte // grows to size, then is a ring
	start int    // with a full ring: the oldest byte, where the next goes
	cut   bool   // bytes have fallen off the front
	base  vtParser
}

func newScrollback(size int) *scrollback {
	if size <= 0 {
		size = DefaultScrollback
	}
	return &scrollback{size: size}
}

// Write appends p, dropping the oldest bytes beyond the size.
func (s *scrollback) Write(p []byte) {
	if len(s.buf) < s.size {
		k := min(len(p), s.size-len(s.buf))
		if len(s.buf)+k > cap(s.buf) {
			grown := make([]byte, len(s.buf), min(s.size, max(2*cap(s.buf), len(s.buf)+k, 4096)))
			copy(grown, s.buf)
			s.buf = grown
		}
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := min(len(p), s.size-s.start)
		s.base.feed(s.buf[s.start : s.start+k]) // about to be overwritten
		copy(s.buf[s.start:], p[:k])
		s.start = (s.start + k) % s.size
		s.cut = true
		p = p[k:]
	}
}

// Len is the number of bytes held.
func (s *scrollback) Len() int { return len(s.buf) }

// Snapshot returns what a new client replays: the modes in force where the
// replay starts, then the held bytes from the first whole sequence and
// character on. It is a fresh copy.
func (s *scrollback) Snapshot() []byte {
	data := make([]byte, 0, len(s.buf))
	data = append(data, s.buf[s.start:]...)
	data = append(data, s.buf[:s.start]...)
	if !s.cut {
		return data
	}
	at := s.base // a copy: finish the sequence the cut fell in
	skip := 0
	for skip < len(data) && !at.atBoundary() {
		at.feed(data[skip : skip+1])
		skip++
	}
	prefix := at.modes.restore()
	out := make([]byte, 0, len(prefix)+len(data)-skip)
	return append(append(out, prefix...), data[skip:]...)
}

// termModes are the terminal modes a replay restores; the zero value is a
// freshly reset terminal.
type termModes struct {
	alt        int  // 47, 1047 or 1049 while on the alternate screen, else 0
	cursorKeys bool // DECCKM, CSI ?1h
	keypad     bool // DECKPAM, ESC =
	hideCursor bool // CSI ?25l
	noWrap     bool // CSI ?7l
	mouse      int  // mouse tracking: 9, 1000, 1002 or 1003; 0 off
	mouseEnc   int  // mouse encoding: 1005, 1006, 1015 or 1016; 0 default
	focus      bool // focus events, CSI ?1004h
	paste      bool // bracketed paste, CSI ?2004h
}

// set applies CSI ? n h (on) or CSI ? n l (off).
func (m *termModes) set(n int, on bool) {
	switch n {
	case 1:
		m.cursorKeys = on
	case 7:
		m.noWrap = !on
	case 25:
		m.hideCursor = !on
	case 47, 1047, 1049:
		m.alt = 0
		if on {
			m.alt = n
		}
	case 9, 1000, 1002, 1003:
		switch {
		case on:
			m.mouse = n
		case m.mouse == n:
			m.mouse = 0
		}
	case 1005, 1006, 1015, 1016:
		switch {
		case on:
			m.mouseEnc = n
		case m.mouseEnc == n:
			m.mouseEnc = 0
		}
	case 1004:
		m.focus = on
	case 2004:
		m.paste = on
	}
}

// restore returns the sequences that take a reset terminal to m: the
// alternate screen first, so what follows is drawn there.
func (m *termModes) restore() []byte {
	var b []byte
	decset := func(n int, on bool) {
		b = append(b, "\x1b[?"...)
		b = strconv.AppendInt(b, int64(n), 10)
		if on {
			b = append(b, 'h')
		} else {
			b = append(b, 'l')
		}
	}
	if m.alt != 0 {
		decset(m.alt, true)
	}
	if m.cursorKeys {
		decset(1, true)
	}
	if m.keypad {
		b = append(b, "\x1b="...)
	}
	if m.hideCursor {
		decset(25, false)
	}
	if m.noWrap {
		decset(7, false)
	}
	if m.mouse != 0 {
		decset(m.mouse, true)
	}
	if m.mouseEnc != 0 {
		decset(m.mouseEnc, true)
	}
	if m.focus {
		decset(1004, true)
	}
	if m.paste {
		decset(2004, true)
	}
	return b
}

// vtParser follows a terminal byte stream just far enough to know the modes
// above and whether it is between sequences and characters. It is a subset
// of the DEC/xterm parser (vt100.net/emu/dec_ansi_parser): escape, CSI and
// string (OSC, DCS, SOS, PM, APC) states, CAN/SUB aborts, and UTF-8.
type vtParser struct {
	modes termModes
	state uint8
	utf8  int // continuation bytes the current character still needs

	// The CSI being read.
	private bool // started with '?'
	ignore  bool // intermediates, sub-parameters or other markers: not ours
	params  [8]int
	nparams int
}

const (
	vtGround   = iota
	vtEscape   // after ESC
	vtEscInter // ESC and intermediates (charset designation and the like)
	vtCSI      // after ESC [
	vtString   // inside OSC, DCS, SOS, PM or APC, until BEL or ST
)

// atBoundary reports whether the stream is between sequences and whole
// characters, where a replay can start.
func (p *vtParser) atBoundary() bool { return p.state == vtGround && p.utf8 == 0 }

func (p *vtParser) feed(b []byte) {
	for len(b) > 0 {
		if p.state == vtGround {
			// Plain text is most of any stream: skip to the next ESC, and
			// work out the UTF-8 state from the end of the run.
			i := bytes.IndexByte(b, 0x1b)
			run := b
			if i >= 0 {
				run = b[:i]
			}
			p.text(run)
			if i < 0 {
				return
			}
			b = b[i:]
		}
		p.byte(b[0])
		b = b[1:]
	}
}

// text follows the UTF-8 state over a run of text without ESC.
func (p *vtParser) text(run []byte) {
	if len(run) < utf8.UTFMax {
		for _, c := range run {
			p.textByte(c)
		}
		return
	}
	p.utf8 = 0
	if i := frame.IncompleteTail(run); i < len(run) {
		p.utf8 = utf8Len(run[i]) - (len(run) - i)
	}
}

func (p *vtParser) textByte(c byte) {
	switch {
	case c >= 0x80 && c <= 0xbf:
		if p.utf8 > 0 {
			p.utf8--
		}
	case c >= 0xc2 && c <= 0xf4:
		p.utf8 = utf8Len(c) - 1
	default:
		p.utf8 = 0
	}
}

// utf8Len is the length of the character a valid lead byte starts.
func utf8Len(c byte) int {
	switch {
	case c >= 0xf0:
		return 4
	case c >= 0xe0:
		return 3
	default:
		return 2
	}
}

func (p *vtParser) byte(c byte) {
	switch {
	case c == 0x1b:
		p.state = vtEscape
		p.utf8 = 0
		return
	case c == 0x18 || c == 0x1a: // CAN, SUB: abort any sequence
		p.state = vtGround
		return
	}
	switch p.state {
	case vtGround:
		p.textByte(c)
	case vtEscape:
		p.escape(c)
	case vtEscInter:
		if c >= 0x30 && c <= 0x7e {
			p.state = vtGround
		}
	case vtCSI:
		p.csi(c)
	case vtString:
		if c == 0x07 { // BEL ends an OSC
			p.state = vtGround
		}
	}
}

func (p *vtParser) escape(c byte) {
	p.state = vtGround
	switch {
	case c == '[':
		p.state = vtCSI
		p.private, p.ignore, p.nparams = false, false, 0
		p.params[0] = 0
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		p.state = vtString
	case c >= 0x20 && c <= 0x2f:
		p.state = vtEscInter
	case c == 'c': // RIS: full reset
		p.modes = termModes{}
	case c == '=':
		p.modes.keypad = true
	case c == '>':
		p.modes.keypad = false
	}
}

func (p *vtParser) csi(c byte) {
	switch {
	case c >= '0' && c <= '9':
		if p.nparams == 0 {
			p.nparams = 1
		}
		if v := &p.params[p.nparams-1]; *v < 100000 {
			*v = *v*10 + int(c-'0')
		}
	case c == ';':
		if p.nparams == 0 {
			p.nparams = 1
		}
		if p.nparams == len(p.params) {
			p.ignore = true
			return
		}
		p.params[p.nparams] = 0
		p.nparams++
	case c == '?' && p.nparams == 0 && !p.private:
		p.private = true
	case c >= 0x20 && c <= 0x3f: // intermediates, ':' and other markers
		p.ignore = true
	case c >= 0x40 && c <= 0x7e:
		p.state = vtGround
		if p.private && !p.ignore && (c == 'h' || c == 'l') {
			for _, n := range p.params[:p.nparams] {
				p.modes.set(n, c == 'h')
			}
		}
	}
	// Other C0 controls inside a CSI are executed by a terminal; none of
	// them concerns us.
}
