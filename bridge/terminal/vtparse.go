package terminal

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

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
// above, the scroll region, and whether it is between sequences and
// characters. The screen feeds it every byte its emulator parses (or skips):
// the emulator (charmbracelet/x/vt) does not expose these. It is a subset
// of the DEC/xterm parser (vt100.net/emu/dec_ansi_parser): escape, CSI and
// string (OSC, DCS, SOS, PM, APC) states, CAN/SUB aborts, and UTF-8.
type vtParser struct {
	modes termModes
	state uint8
	utf8  int // continuation bytes the current character still needs
	// since is how many bytes ago the stream left its last boundary: the
	// unfinished sequence or character, which a replay must repeat.
	since int

	// The scroll region (DECSTBM) as last set: 0, 0 for the whole screen.
	top, bottom int
	// scrolls counts, while the alternate screen is on, the lines that
	// scrolling, wrapping or erasing may have pushed off it (an upper
	// bound), with the screen's size in cells.
	scrolls, cols, rows int

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
	if p.modes.alt != 0 {
		p.scrolls += bytes.Count(run, []byte{'\n'}) + len(run)/max(p.cols, 1)
	}
	if len(run) < utf8.UTFMax {
		for _, c := range run {
			p.textByte(c)
		}
		return
	}
	p.utf8, p.since = 0, 0
	if i := frame.IncompleteTail(run); i < len(run) {
		p.utf8 = utf8Len(run[i]) - (len(run) - i)
		p.since = len(run) - i
	}
}

func (p *vtParser) textByte(c byte) {
	switch {
	case c >= 0x80 && c <= 0xbf:
		if p.utf8 > 0 {
			p.utf8--
			p.since++
		}
	case c >= 0xc2 && c <= 0xf4:
		p.utf8 = utf8Len(c) - 1
		p.since = 1
	default:
		p.utf8 = 0
	}
	if p.utf8 == 0 {
		p.since = 0
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

// byte follows one byte, outside the plain-text fast path.
func (p *vtParser) byte(c byte) {
	switch {
	case c == 0x1b:
		p.since = 1 // a new sequence; an unfinished one is abandoned
	case p.state != vtGround:
		p.since++
	}
	p.step(c)
	if p.atBoundary() {
		p.since = 0
	}
}

func (p *vtParser) step(c byte) {
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
		if c == '\n' && p.modes.alt != 0 {
			p.scrolls++
		}
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
		p.top, p.bottom = 0, 0
	case (c == 'D' || c == 'E') && p.modes.alt != 0: // IND, NEL
		p.scrolls++
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
		if p.ignore {
			return
		}
		if p.private {
			if c == 'h' || c == 'l' {
				for _, n := range p.params[:p.nparams] {
					p.modes.set(n, c == 'h')
				}
			}
			return
		}
		p.csiFinal(c)
	}
	// Other C0 controls inside a CSI are executed by a terminal; none of
	// them concerns us.
}

// csiFinal follows a complete CSI sequence without private marker.
func (p *vtParser) csiFinal(c byte) {
	param := func(i, def int) int {
		if i >= p.nparams || p.params[i] == 0 {
			return def
		}
		return p.params[i]
	}
	switch c {
	case 'r': // DECSTBM
		p.top, p.bottom = param(0, 0), param(1, 0)
	case 'S', 'M': // SU, DL: lines may be pushed off the top
		if p.modes.alt != 0 {
			p.scrolls += param(0, 1)
		}
	case 'J': // ED 2 and 3 may push the whole screen
		if n := param(0, 0); n >= 2 && p.modes.alt != 0 {
			p.scrolls += p.rows
		}
	}
}
