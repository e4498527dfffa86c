package terminal

import (
	"bytes"
	"io"
	"time"

	"github.com/charmbracelet/x/vt"

	"github.com/wsbridge/wsbridge/process"
)

// DefaultScrollback is Options.Scrollback's default (--scrollback): lines
// of the normal screen's history a joining client gets above the screen.
const DefaultScrollback = 1000

const (
	// pendingLimit bounds the output the emulator has not parsed yet.
	// Beyond it the oldest is dropped and the screen is rebuilt from what
	// is left, as a byte log would replay it.
	pendingLimit = 2 << 20
	// feedSlice is how much output the emulator parses at a time when the
	// pump has nothing else to do: a millisecond or so of the lock.
	feedSlice = 4 << 10
	// feedLull is how long the program must pause before the emulator
	// parses its output; feedEager is how much unparsed output makes it
	// parse without a pause.
	feedLull  = 20 * time.Millisecond
	feedEager = 1 << 20
	// skipScan bounds the look-ahead of skipScrolled.
	skipScan = 1 << 20
	// altRebuildScreens: x/vt keeps lines scrolled off the alternate screen
	// in a history of its own that no client is ever sent, up to 10,000
	// lines. After about this many screens of them the emulator is rebuilt
	// from its rendering, which drops that history: it bounds the memory.
	altRebuildScreens = 10
)

// screen is a terminal session's state for the clients that attach later
// (--shared, --reconnect): a VT emulator (charmbracelet/x/vt) that parses
// the program's output, the scrollback it pushed off the normal screen,
// rendered, and the output the emulator has not parsed yet.
//
// Parsing costs far more than carrying output (x/vt parses 0.5 to 15 MB/s
// here, the terminal carries 50 MB/s), so it is kept off the hot path: the
// pump appends each chunk to pending, and the session's feeder goroutine
// has it parsed in the program's lulls (see ttyProc.feeder). A
// client attaching gets the rendering of the emulator followed by pending
// as it is: exact, whatever the emulator lags. A flood that outruns the
// emulator by more than pendingLimit drops the oldest pending output; the
// emulator then starts over from the modes in force and what is left.
//
// All of it is guarded by ttyProc.mu.
type screen struct {
	emu        *vt.Emulator // nil after a drop: rebuilt from pending
	cols, rows int
	title      string   // set by OSC 0 or 2 through the emulator
	lines      int      // most lines of history kept
	history    [][]byte // rendered lines, oldest first
	track      vtParser // at the emulator's position: modes, scroll region

	// pending[head:] is output not yet parsed, after the first fed bytes of
	// it, which the emulator has parsed but which end inside a sequence or
	// character (track.since of them): a replay repeats those.
	pending []byte
	head    int
	fed     int
	written bool // any output at all
}

func newScreen(size process.Winsize, lines int) *screen {
	s := &screen{cols: int(size.Cols), rows: int(size.Rows), lines: lines}
	s.track.cols, s.track.rows = s.cols, s.rows
	s.emu = s.newEmulator()
	return s
}

func (s *screen) newEmulator() *vt.Emulator {
	emu := vt.NewEmulator(s.cols, s.rows)
	// Lines scrolled off the normal screen are taken out after each feed.
	emu.SetScrollbackSize(max(s.lines, 1))
	emu.SetCallbacks(vt.Callbacks{Title: func(t string) { s.title = t }})
	// Answers to the program's queries (cursor position, device
	// attributes) go to a pipe nobody reads; closed, a write returns at
	// once instead of blocking the pump. The clients' terminals answer.
	if pw, ok := emu.InputPipe().(*io.PipeWriter); ok {
		pw.Close()
	}
	return emu
}

// write appends output for the emulator, dropping the oldest beyond
// pendingLimit.
func (s *screen) write(b []byte) {
	s.written = true
	if len(s.pending)-s.head+len(b) > pendingLimit {
		s.drop(len(s.pending) - s.head + len(b) - pendingLimit)
	}
	if s.head > 0 && len(s.pending)+len(b) > cap(s.pending) {
		// Compact rather than grow: the slice stays within about twice
		// pendingLimit.
		n := copy(s.pending, s.pending[s.head:])
		s.pending, s.head = s.pending[:n], 0
	}
	s.pending = append(s.pending, b...)
}

// drop forgets the n oldest pending bytes (all of it if fewer): the
// emulator can no longer follow the stream, so it is discarded, and track
// follows the dropped bytes to know the modes where pending now starts.
func (s *screen) drop(n int) {
	data := s.pending[s.head:]
	n = min(n, len(data))
	if n > s.fed {
		s.track.feed(data[s.fed:n])
	}
	s.head += n
	s.fed = 0
	s.emu = nil
	s.history = nil
	if s.head == len(s.pending) {
		s.pending, s.head = s.pending[:0], 0
	}
}

// revive rebuilds a discarded emulator: a fresh one with the modes and
// scroll region in force, with pending from its first whole sequence or
// character on.
func (s *screen) revive() {
	if s.emu != nil {
		return
	}
	s.emu = s.newEmulator()
	s.emu.Write(appendScrollRegion(s.track.modes.restore(), s.track.top, s.track.bottom))
	data := s.pending[s.head:]
	skip := 0
	for skip < len(data) && !s.track.atBoundary() {
		s.track.feed(data[skip : skip+1])
		skip++
	}
	s.head += skip
	s.track.scrolls = 0
}

// unfed reports whether output waits for the emulator.
func (s *screen) unfed() bool { return s.fed < len(s.pending)-s.head }

// unfedBytes is how much output waits for the emulator.
func (s *screen) unfedBytes() int { return len(s.pending) - s.head - s.fed }

// feed parses up to max bytes of pending output and reports whether more
// is waiting.
func (s *screen) feed(max int) bool {
	s.revive()
	s.skipScrolled()
	data := s.pending[s.head:]
	chunk := data[s.fed:min(len(data), s.fed+max)]
	if len(chunk) > 0 {
		s.track.feed(chunk)
		s.emu.Write(chunk)
		s.fed += len(chunk)
		s.takeHistory()
	}
	// Keep only the bytes of an unfinished sequence or character.
	if done := s.fed - min(s.track.since, s.fed); done > 0 {
		s.head += done
		s.fed -= done
		if s.head == len(s.pending) {
			s.pending, s.head = s.pending[:0], 0
		}
	}
	if s.track.scrolls > altRebuildScreens*s.rows {
		s.rebuild()
	}
	return s.unfed()
}

// catchUp keeps pending under feedEager while output keeps coming: it
// skips what scrolled away, and parses a slice only if that is not enough.
func (s *screen) catchUp() {
	s.revive()
	s.skipScrolled()
	if s.unfedBytes() >= feedEager {
		s.feed(feedSlice)
	}
}

// skipScrolled spares the emulator output that scrolls out of sight
// before anyone could see it: in a run of plain text, colours and line
// feeds (cat of a big file, a build log) with the whole screen as scroll
// region, whatever comes before the last 2*rows+lines line feeds is
// scrolled off the screen and out of the history by them. Only its colour
// changes (SGR) are parsed, for the pen they leave. x/vt moves every cell
// of the screen for each line scrolled, so this is what makes a flood
// cheap.
func (s *screen) skipScrolled() {
	if s.track.top != 0 || s.track.bottom != 0 || !s.track.atBoundary() {
		return
	}
	data := s.pending[s.head+s.fed:]
	need := 2*s.rows + s.lines + 1
	if len(data) < need {
		return
	}
	data = data[:min(len(data), skipScan)]
	end, lfs := plainRun(data)
	if lfs <= need {
		return
	}
	// Keep the last need line feeds of the run; skip up to the one before.
	cut := end
	for n := 0; n < need; cut-- {
		if data[cut-1] == '\n' {
			n++
		}
	}
	skipped := data[:cut]
	s.track.feed(skipped)
	s.emu.Write(sgrOnly(skipped))
	s.fed += cut
}

// plainRun returns the length of the run at the start of b made only of
// text, CR, LF, tab, backspace, BEL and SGR sequences, and its line feeds.
func plainRun(b []byte) (end, lfs int) {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= 0x20 && c != 0x7f:
			i++
		case c == '\n':
			lfs++
			i++
		case c == '\r' || c == '\t' || c == '\b' || c == '\a':
			i++
		case c == 0x1b:
			n := sgrLen(b[i:])
			if n == 0 {
				return i, lfs
			}
			i += n
		default:
			return i, lfs
		}
	}
	return len(b), lfs
}

// sgrLen is the length of the SGR sequence b starts with, 0 if it does not
// start with a whole one.
func sgrLen(b []byte) int {
	if len(b) < 3 || b[0] != 0x1b || b[1] != '[' {
		return 0
	}
	for i := 2; i < len(b); i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9' || c == ';' || c == ':':
		case c == 'm':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}

// sgrOnly returns the SGR sequences of a plain run.
func sgrOnly(b []byte) []byte {
	var out []byte
	for {
		i := bytes.IndexByte(b, 0x1b)
		if i < 0 {
			return out
		}
		n := sgrLen(b[i:])
		out = append(out, b[i:i+n]...)
		b = b[i+max(n, 1):]
	}
}

// takeHistory moves the lines the emulator pushed off the normal screen
// into history, rendered: a line costs its bytes, not 112 bytes a cell.
func (s *screen) takeHistory() {
	sb := s.emu.Scrollback()
	if sb.Len() == 0 {
		return
	}
	for _, line := range sb.Lines() {
		s.history = append(s.history, renderLine(line))
	}
	sb.Clear()
	if over := len(s.history) - s.lines; over > 0 {
		clear(s.history[:over])
		s.history = append(s.history[:0], s.history[over:]...)
	}
}

// rebuild replaces the emulator with one fed its rendering, which leaves
// out the history x/vt keeps of the alternate screen (see
// altRebuildScreens). The bytes of an unfinished sequence stay pending,
// fed again to the new emulator.
func (s *screen) rebuild() {
	state := renderState(s.emu, &s.track, s.title, nil)
	s.emu = s.newEmulator()
	s.emu.Write(state)
	s.track.scrolls = 0
	if s.fed > 0 {
		// The new emulator has not seen the start of the unfinished
		// sequence: feed it again.
		s.emu.Write(s.pending[s.head : s.head+s.fed])
	}
}

// replay returns what a client attaching now is sent after its terminal is
// reset: the emulator's state, then the output it has not parsed.
func (s *screen) replay() []byte {
	s.revive()
	state := renderState(s.emu, &s.track, s.title, s.history)
	return append(state, s.pending[s.head:]...)
}

// resize follows the terminal's new size, after parsing the output written
// at the old one.
func (s *screen) resize(size process.Winsize) {
	for s.unfed() {
		s.feed(feedSlice)
	}
	s.cols, s.rows = int(size.Cols), int(size.Rows)
	s.track.cols, s.track.rows = s.cols, s.rows
	// Terminals reset the scroll region on a resize.
	s.track.top, s.track.bottom = 0, 0
	if s.emu != nil {
		s.emu.Resize(s.cols, s.rows)
	}
}
