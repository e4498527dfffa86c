package terminal

import (
	"image/color"
	"strconv"

	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"
)

// renderState returns the escape sequences that take a freshly reset
// terminal of the emulator's size to the state the emulator holds: the
// title, the scrollback lines (history, each already rendered), the screen
// with its colours and attributes, the alternate screen, the scroll region,
// the modes track followed, and the cursor. The parser track must be at the
// emulator's position in the stream.
//
// What x/vt does not expose is not restored: the normal screen beneath an
// active alternate screen (a client joining then sees it blank once the
// program leaves the alternate screen), the saved cursor, the pen in use
// (programs set it before they draw), hyperlinks, and character sets.
func renderState(emu *vt.Emulator, track *vtParser, title string, history [][]byte) []byte {
	w, h := emu.Width(), emu.Height()
	b := make([]byte, 0, 4096+w*h*2)
	if title != "" {
		b = append(b, "\x1b]2;"...)
		b = appendPrintable(b, title)
		b = append(b, '\a')
	}
	for _, line := range history {
		b = append(b, line...)
		b = append(b, "\r\n"...)
	}
	alt := emu.IsAltScreen()
	if alt {
		// The history goes to the client's scrollback, the screen it
		// leaves is the normal one, blank; then the alternate one.
		b = append(b, "\x1b[?1049h"...)
	}
	for y := range h {
		if alt {
			b = append(b, "\x1b["...)
			b = strconv.AppendInt(b, int64(y+1), 10)
			b = append(b, ";1H"...)
		} else if y > 0 {
			b = append(b, "\r\n"...)
		}
		b = appendRow(b, func(x int) *uv.Cell { return emu.CellAt(x, y) }, w)
	}
	b = appendScrollRegion(b, track.top, track.bottom)
	modes := track.modes
	modes.alt = 0 // done above
	b = append(b, modes.restore()...)
	pos := emu.CursorPosition()
	b = append(b, "\x1b["...)
	b = strconv.AppendInt(b, int64(pos.Y+1), 10)
	b = append(b, ';')
	b = strconv.AppendInt(b, int64(pos.X+1), 10)
	b = append(b, 'H')
	return b
}

// appendScrollRegion appends the DECSTBM that sets a scroll region, if it
// is not the whole screen. It moves the cursor home.
func appendScrollRegion(b []byte, top, bottom int) []byte {
	if top == 0 && bottom == 0 {
		return b
	}
	b = append(b, "\x1b["...)
	if top != 0 {
		b = strconv.AppendInt(b, int64(top), 10)
	}
	b = append(b, ';')
	if bottom != 0 {
		b = strconv.AppendInt(b, int64(bottom), 10)
	}
	return append(b, 'r')
}

// renderLine renders a line of the scrollback, from the default pen back
// to it.
func renderLine(line uv.Line) []byte {
	return appendRow(nil, func(x int) *uv.Cell { return line.At(x) }, len(line))
}

// appendRow renders cells 0 to w-1 of a row on a cleared line, leaving the
// pen at its default: trailing blanks are left out, the continuation cells
// of wide characters skipped.
func appendRow(b []byte, cellAt func(x int) *uv.Cell, w int) []byte {
	end := w
	for end > 0 && blankCell(cellAt(end-1)) {
		end--
	}
	var pen uv.Style
	for x := 0; x < end; x++ {
		c := cellAt(x)
		if c == nil {
			c = &uv.EmptyCell
		}
		if !c.Style.Equal(&pen) {
			b = appendSGR(b, &c.Style)
			pen = c.Style
		}
		if c.Content == "" {
			b = append(b, ' ')
		} else {
			b = append(b, c.Content...)
			x += max(c.Width, 1) - 1 // the cells a wide character covers
		}
	}
	if !pen.IsZero() {
		b = append(b, "\x1b[0m"...)
	}
	return b
}

// blankCell reports whether a cell looks like nothing on a cleared line.
func blankCell(c *uv.Cell) bool {
	return c == nil || (c.Content == " " || c.Content == "") && c.Width <= 1 && c.Style.IsZero() && c.Link.IsZero()
}

// appendSGR appends the SGR sequence that sets the pen to s from scratch.
func appendSGR(b []byte, s *uv.Style) []byte {
	b = append(b, "\x1b[0"...)
	attrs := []struct {
		bit  uint8
		code string
	}{
		{uv.AttrBold, "1"}, {uv.AttrFaint, "2"}, {uv.AttrItalic, "3"}, {uv.AttrBlink, "5"},
		{uv.AttrRapidBlink, "6"}, {uv.AttrReverse, "7"}, {uv.AttrConceal, "8"}, {uv.AttrStrikethrough, "9"},
	}
	for _, a := range attrs {
		if s.Attrs&a.bit != 0 {
			b = append(b, ';')
			b = append(b, a.code...)
		}
	}
	switch s.Underline {
	case ansi.UnderlineNone:
	case ansi.UnderlineSingle:
		b = append(b, ";4"...)
	default:
		b = append(b, ";4:"...)
		b = strconv.AppendInt(b, int64(s.Underline), 10)
	}
	b = appendColor(b, s.Fg, 30, 90, "38")
	b = appendColor(b, s.Bg, 40, 100, "48")
	b = appendColor(b, s.UnderlineColor, -1, -1, "58")
	return append(b, 'm')
}

// appendColor appends a colour parameter: base+n for the 8 basic colours,
// bright+n-8 for the bright ones, else ext;5;n (256 colours) or ext;2;r;g;b.
func appendColor(b []byte, c color.Color, base, bright int, ext string) []byte {
	if c == nil {
		return b
	}
	b = append(b, ';')
	switch c := c.(type) {
	case ansi.BasicColor:
		if base >= 0 {
			if c < 8 {
				return strconv.AppendInt(b, int64(base)+int64(c), 10)
			}
			return strconv.AppendInt(b, int64(bright)+int64(c)-8, 10)
		}
		return strconv.AppendInt(append(append(b, ext...), ";5;"...), int64(c), 10)
	case ansi.IndexedColor:
		return strconv.AppendInt(append(append(b, ext...), ";5;"...), int64(c), 10)
	}
	r, g, bl, _ := c.RGBA()
	b = append(append(b, ext...), ";2;"...)
	b = strconv.AppendInt(b, int64(r>>8), 10)
	b = append(b, ';')
	b = strconv.AppendInt(b, int64(g>>8), 10)
	b = append(b, ';')
	return strconv.AppendInt(b, int64(bl>>8), 10)
}

// appendPrintable appends s without its control characters, which would
// end or break the sequence it goes in.
func appendPrintable(b []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x20 && r != 0x7f && (r < 0x80 || r > 0x9f) {
			b = append(b, string(r)...)
		}
	}
	return b
}
