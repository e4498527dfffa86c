package terminal_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"

	"github.com/wsbridge/wsbridge/bridge/terminal"
)

// fullScreenUI is what a full-screen program writes: the alternate screen,
// a scroll region it scrolls, colours of every kind, attributes, wide
// characters, cursor moves, bracketed paste, a hidden cursor and a title;
// before it, a shell's worth of lines on the normal screen.
func fullScreenUI(cols, rows, frames int) []byte {
	var b bytes.Buffer
	for i := range 3 * rows {
		fmt.Fprintf(&b, "\x1b[1;32mprompt\x1b[0m$ ls %d \x1b[38;5;208m日本語\x1b[0m done\r\n", i)
	}
	b.WriteString("\x1b]2;the ui\a\x1b[?1049h\x1b[?2004h\x1b[?1h\x1b=\x1b[?25l")
	r := rand.New(rand.NewPCG(3, 4))
	for f := range frames {
		fmt.Fprintf(&b, "\x1b[H\x1b[7m frame %d \x1b[0m\x1b[K", f)
		fmt.Fprintf(&b, "\x1b[2;%dr\x1b[%d;1H", rows-1, rows-1)
		for range 3 {
			fmt.Fprintf(&b, "\r\n\x1b[48;2;%d;%d;%dm\x1b[3%dm line %d \x1b[1;4m€ %c\x1b[0m\x1b[K",
				r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(8), r.IntN(1000), 'A'+r.IntN(26))
		}
		fmt.Fprintf(&b, "\x1b[r\x1b[%d;1H\x1b[9%dm status \x1b[38;5;%dmx\x1b[0m 寛\x1b[K", rows, r.IntN(8), r.IntN(256))
		fmt.Fprintf(&b, "\x1b[%d;%dH\x1b[2;9;3m*\x1b[0m", 2+r.IntN(rows-2), 1+r.IntN(cols-1))
	}
	fmt.Fprintf(&b, "\x1b[3;%dr\x1b[5;7H", rows-2)
	return b.Bytes()
}

// sameScreen fails unless got shows what want shows: every cell's
// character, width and style, the cursor, and the screen in use.
func sameScreen(t *testing.T, want, got *vt.Emulator) {
	t.Helper()
	if got.Width() != want.Width() || got.Height() != want.Height() {
		t.Fatalf("size %dx%d, want %dx%d", got.Width(), got.Height(), want.Width(), want.Height())
	}
	for y := range want.Height() {
		for x := range want.Width() {
			w, g := want.CellAt(x, y), got.CellAt(x, y)
			if w.Content != g.Content || w.Width != g.Width || !w.Style.Equal(&g.Style) {
				t.Fatalf("cell %d,%d: got %q width %d style %+v, want %q width %d style %+v",
					x, y, g.Content, g.Width, g.Style, w.Content, w.Width, w.Style)
			}
		}
	}
	if got.CursorPosition() != want.CursorPosition() {
		t.Fatalf("cursor at %v, want %v", got.CursorPosition(), want.CursorPosition())
	}
	if got.IsAltScreen() != want.IsAltScreen() || got.CursorHidden() != want.CursorHidden() {
		t.Fatalf("alternate screen %v, hidden cursor %v; want %v, %v",
			got.IsAltScreen(), got.CursorHidden(), want.IsAltScreen(), want.CursorHidden())
	}
}

// The replay, fed to a fresh terminal, shows the screen of one that parsed
// the whole stream, however much of it the screen's emulator has parsed.
func TestScreenReplayRoundTrip(t *testing.T) {
	t.Parallel()
	const cols, rows = 100, 30
	stream := fullScreenUI(cols, rows, 300)
	want := vt.NewEmulator(cols, rows)
	want.Write(stream)
	all := terminal.NewScreen(cols, rows, 50)
	all.Write(stream)
	for all.Feed(len(stream)) {
	}
	for _, fed := range []int{0, 1000, len(stream) / 2, len(stream)} {
		t.Run(fmt.Sprint("fed=", fed), func(t *testing.T) {
			s := terminal.NewScreen(cols, rows, 50)
			r := rand.New(rand.NewPCG(5, uint64(fed)))
			for p := stream; len(p) > 0; {
				n := min(len(p), 1+r.IntN(5000))
				s.Write(p[:n])
				p = p[n:]
			}
			for left := fed; left > 0; left -= 3001 {
				s.Feed(min(left, 3001))
			}
			replay := s.Replay()
			got := vt.NewEmulator(cols, rows)
			got.Write(replay)
			sameScreen(t, want, got)
			// And the state a replay restores is the same again.
			again := terminal.NewScreen(cols, rows, 50)
			again.Write(replay)
			again.Feed(len(replay))
			if again.Modes() != all.Modes() || again.Title() != "the ui" {
				t.Fatalf("modes %+v title %q, want %+v %q", again.Modes(), again.Title(), all.Modes(), "the ui")
			}
			if top, bottom := again.ScrollRegion(); top != 3 || bottom != rows-2 {
				t.Fatalf("scroll region %d;%d, want 3;%d", top, bottom, rows-2)
			}
			sameScreen(t, want, again.Emulator())
		})
	}
}

// The normal screen and the lines it scrolled come back, the latter up to
// the limit, in order, with their colours.
func TestScreenReplayHistory(t *testing.T) {
	t.Parallel()
	const cols, rows = 40, 10
	s := terminal.NewScreen(cols, rows, 25)
	var stream bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&stream, "\x1b[3%dmline %03d\x1b[0m\r\n", i%8, i)
	}
	stream.WriteString("$ \x1b[?2004h")
	s.Write(stream.Bytes())
	for s.Feed(100) {
	}
	want := vt.NewEmulator(cols, rows)
	want.Write(stream.Bytes())
	got := vt.NewEmulator(cols, rows)
	got.SetScrollbackSize(1000)
	got.Write(s.Replay())
	sameScreen(t, want, got)
	if n := got.ScrollbackLen(); n != 25 {
		t.Fatalf("%d lines of scrollback, want 25", n)
	}
	for i := range 25 {
		line := got.Scrollback().Line(i)
		if text := strings.TrimSpace(line.String()); text != fmt.Sprintf("line %03d", 100-rows+1-25+i) {
			t.Fatalf("scrollback line %d: %q", i, text)
		}
		if c := line.At(0); c.Style.Fg == nil {
			t.Fatalf("scrollback line %d lost its colour", i)
		}
	}
}

// Output beyond what the emulator can keep unparsed is dropped from the
// front: the replay is bounded, keeps the modes in force and shows the
// screen the remaining output draws.
func TestScreenPendingLimit(t *testing.T) {
	t.Parallel()
	const cols, rows = 80, 24
	s := terminal.NewScreen(cols, rows, 100)
	var stream bytes.Buffer
	stream.WriteString("\x1b[?2004h")
	for i := 0; stream.Len() < 2*terminal.PendingLimit; i++ {
		fmt.Fprintf(&stream, "the quick brown fox %08d \x1b[1mjumps\x1b[0m\r\n", i)
	}
	for p := stream.Bytes(); len(p) > 0; {
		n := min(len(p), 32<<10+7) // not at line boundaries
		s.Write(p[:n])
		p = p[n:]
	}
	if s.Pending() > terminal.PendingLimit {
		t.Fatalf("%d bytes pending, limit %d", s.Pending(), terminal.PendingLimit)
	}
	replay := s.Replay()
	if len(replay) > terminal.PendingLimit+64<<10 {
		t.Fatalf("replay of %d bytes", len(replay))
	}
	want := vt.NewEmulator(cols, rows)
	want.Write(stream.Bytes())
	got := vt.NewEmulator(cols, rows)
	got.Write(replay)
	sameScreen(t, want, got)
	if !bytes.Contains(replay[:64], []byte("\x1b[?2004h")) {
		t.Fatalf("replay does not restore bracketed paste: %q", replay[:64])
	}
}

// Queries the program sends (cursor position, device attributes) never
// block the emulator: the clients' terminals answer them.
func TestScreenQueriesDoNotBlock(t *testing.T) {
	t.Parallel()
	s := terminal.NewScreen(80, 24, 10)
	s.Write(bytes.Repeat([]byte("\x1b[6n\x1b[c\x1b[>c\x1b[?2004$p\x1b]10;?\a"), 100))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s.Feed(1000) {
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("feeding queries blocked")
	}
}

// A resize applies to the output written after it; the replay is drawn at
// the new size.
func TestScreenResize(t *testing.T) {
	t.Parallel()
	s := terminal.NewScreen(80, 24, 10)
	s.Write([]byte("\x1b[?1049h\x1b[2;20rbefore"))
	s.Resize(60, 20)
	s.Write([]byte("\x1b[20;1Hafter"))
	got := vt.NewEmulator(60, 20)
	got.Write(s.Replay())
	if top, bottom := s.ScrollRegion(); top != 0 || bottom != 0 {
		t.Fatalf("scroll region %d;%d survived the resize", top, bottom)
	}
	if text := got.CellAt(0, 19).Content + got.CellAt(4, 19).Content; text != "ar" {
		t.Fatalf("bottom row starts %q", text)
	}
	if !got.IsAltScreen() {
		t.Fatal("not on the alternate screen")
	}
}

// BenchmarkScreen measures what the screen state costs a session: the
// emulator's parsing speed (MB/s) and the memory held at 200x50 with 1,000
// lines of history full of coloured text (heap-bytes).
func BenchmarkScreen(b *testing.B) {
	const cols, rows = 200, 50
	line := "\x1b[32mthe quick brown fox\x1b[0m jumps over the lazy dog 0123456789 " +
		"\x1b[38;2;200;100;50mABCDEFGHIJKLMNOPQRSTUVW\x1b[0m" + strings.Repeat(" lorem ipsum", 10) + "\r\n"
	streams := map[string][]byte{
		"cat": bytes.Repeat([]byte(line), (4<<20)/len(line)),
		"ui":  fullScreenUI(cols, rows, 4000),
	}
	for name, stream := range streams {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			var heap uint64
			for range b.N {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				s := terminal.NewScreen(cols, rows, terminal.DefaultScrollback)
				for p := stream; len(p) > 0; {
					n := min(len(p), 32<<10)
					s.Write(p[:n])
					for s.Feed(16 << 10) {
					}
					p = p[n:]
				}
				b.StopTimer()
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				heap = after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(s)
				b.StartTimer()
			}
			b.ReportMetric(float64(heap), "heap-bytes")
		})
	}
}
