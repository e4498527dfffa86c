package terminal_test

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/wsbridge/wsbridge/bridge/terminal"
)

func TestScrollback(t *testing.T) {
	t.Parallel()
	const size = 64
	fill := strings.Repeat("x", size) // pushes everything before it out
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"under the size: all of it", []string{"hello ", "world"}, "hello world"},
		{"empty", nil, ""},
		{"bounded: only the last bytes", []string{strings.Repeat("a", 100), strings.Repeat("b", 60)}, strings.Repeat("a", 4) + strings.Repeat("b", 60)},
		{"one write larger than the ring", []string{strings.Repeat("a", 10) + strings.Repeat("b", 200)}, strings.Repeat("b", 64)},
		// Cut inside "\x1b[31m": the replay starts after the sequence's
		// end, never with its tail "1m" printed as text.
		{"cut inside a CSI", []string{strings.Repeat("a", 10), "\x1b[31m" + strings.Repeat("r", 61)}, strings.Repeat("r", 61)},
		{"cut inside an OSC title", []string{"\x1b]0;a long window title\x07" + strings.Repeat("t", 60)}, strings.Repeat("t", 60)},
		{"cut inside an OSC ended by ST", []string{"\x1b]2;title\x1b\\" + strings.Repeat("t", 60)}, strings.Repeat("t", 60)},
		// "€" is 3 bytes: a cut after its first byte must not leave two
		// stray continuation bytes.
		{"cut inside a character", []string{"€" + strings.Repeat("e", 62)}, strings.Repeat("e", 62)},
		{"cut before a character", []string{"ab€" + strings.Repeat("e", 61)}, "€" + strings.Repeat("e", 61)},
		// Modes whose sequence fell off the front are set again first.
		{"alternate screen restored", []string{"\x1b[?1049h", fill}, "\x1b[?1049h" + fill},
		{"alternate screen left again", []string{"\x1b[?1049h", "\x1b[?1049l", fill}, fill},
		{"several modes in one sequence", []string{"\x1b[?1;2004h\x1b=", fill}, "\x1b[?1h\x1b=\x1b[?2004h" + fill},
		{"hidden cursor and mouse", []string{"\x1b[?25l\x1b[?1000h\x1b[?1006h", fill}, "\x1b[?25l\x1b[?1000h\x1b[?1006h" + fill},
		{"mouse turned off", []string{"\x1b[?1002h\x1b[?1002l", fill}, fill},
		{"full reset forgets modes", []string{"\x1b[?1049h\x1b[?2004h\x1bc", fill}, fill},
		{"not a DEC private mode", []string{"\x1b[4h\x1b[1049h", fill}, fill},
		{"mode still in the ring: no prefix", []string{strings.Repeat("a", 100), "\x1b[?1049hscreen"}, strings.Repeat("a", 50) + "\x1b[?1049hscreen"},
		// The cut falls inside "\x1b[?1049h": the mode it sets counts.
		{"cut inside a mode sequence", []string{strings.Repeat("a", 30), "\x1b[?1049h" + strings.Repeat("s", 59)}, "\x1b[?1049h" + strings.Repeat("s", 59)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := terminal.NewScrollback(size)
			total := 0
			for _, w := range tt.writes {
				s.Write([]byte(w))
				total += len(w)
			}
			if s.Len() != min(total, size) {
				t.Errorf("Len %d, want %d", s.Len(), min(total, size))
			}
			if got := string(s.Snapshot()); got != tt.want {
				t.Errorf("Snapshot\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// However the stream is split into writes, the replay is the same.
func TestScrollbackWriteSizes(t *testing.T) {
	t.Parallel()
	var stream []byte
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"plain text ", "\r\n", "\x1b[31m", "\x1b[0m", "€", "日本", "\x1b]0;title\x07", "\x1b[?1049h", "\x1b[?1049l", "\x1b[?2004h", "\x1b[2J", "\x1b(B"}
	for len(stream) < 20000 {
		stream = append(stream, pieces[r.IntN(len(pieces))]...)
	}
	const size = 1000
	whole := terminal.NewScrollback(size)
	whole.Write(stream)
	want := whole.Snapshot()
	for _, maxWrite := range []int{1, 3, 7, 100, 999, 1000, 1001, 5000} {
		s := terminal.NewScrollback(size)
		for p := stream; len(p) > 0; {
			n := min(len(p), 1+r.IntN(maxWrite))
			s.Write(p[:n])
			p = p[n:]
		}
		if got := s.Snapshot(); !bytes.Equal(got, want) {
			t.Fatalf("writes of up to %d bytes: snapshot differs\n got %q\nwant %q", maxWrite, got, want)
		}
	}
	// The replay is the stream's tail, after at most a few bytes of
	// restored modes.
	if len(want) > size+64 || !bytes.HasSuffix(stream, want[len(want)-size+64:]) {
		t.Fatalf("snapshot is not the stream's tail: %q", want)
	}
}

func TestScrollbackDefaultSize(t *testing.T) {
	t.Parallel()
	s := terminal.NewScrollback(0)
	s.Write(bytes.Repeat([]byte("z"), terminal.DefaultScrollback+10))
	if s.Len() != terminal.DefaultScrollback {
		t.Fatalf("Len %d, want %d", s.Len(), terminal.DefaultScrollback)
	}
}
