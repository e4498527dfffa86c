package frame

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// pieces feeds chunks through a pipe into a streamReader and collects what it
// returns, each piece marked with "|" where it ends a message and "+" where
// the message continues.
func pieces(t *testing.T, binary bool, maxMsg int, chunks ...string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sr, err := NewStreamReader(r, binary, maxMsg)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Release()
	var out strings.Builder
	drain := func() {
		for {
			p, end, ok := sr.Next()
			if !ok {
				return
			}
			out.Write(p)
			if end {
				out.WriteString("|")
			} else {
				out.WriteString("+")
			}
		}
	}
	for _, c := range chunks {
		w.Write([]byte(c))
		if err := sr.Fill(); err != nil {
			t.Fatalf("fill: %v", err)
		}
		drain()
	}
	w.Close()
	for sr.Fill() == nil {
		drain()
	}
	drain()
	return out.String()
}

func TestStreamReaderLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", ChunkSize)
	tests := []struct {
		name   string
		binary bool
		maxMsg int
		chunks []string
		want   string
	}{
		{"lines", false, 0, []string{"a\nb\n"}, "a|b|"},
		{"empty lines", false, 0, []string{"\n\n"}, "||"},
		{"crlf", false, 0, []string{"a\r\nb\r\n"}, "a|b|"},
		{"lone cr kept", false, 0, []string{"a\rb\n"}, "a\rb|"},
		{"line across reads", false, 0, []string{"ab", "c\nd"}, "abc|d|"},
		{"crlf across reads", false, 0, []string{"a\r", "\n"}, "a|"},
		{"final line without newline", false, 0, []string{"a\nlast"}, "a|last|"},
		{"split at max", false, 3, []string{"abcdefg\n"}, "abc|def|g|"},
		{"exactly max", false, 3, []string{"abc\nd\n"}, "abc|d|"},
		{"exactly max with crlf", false, 3, []string{"abc\r\nd\n"}, "abc|d|"},
		{"max across reads", false, 4, []string{"ab", "cdef\n"}, "abcd|ef|"},
		{"utf-8 kept whole at max", false, 3, []string{"aé\n", "éé\n"}, "aé|é|é|"},
		{"longer than buffer streams", false, 0, []string{long + "yz\n"}, long + "+yz|"},
		{"binary chunks", true, 0, []string{"a\nb", "c"}, "a\nb|c|"},
		{"binary max", true, 2, []string{"abcde"}, "ab|cd|e|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := pieces(t, tt.binary, tt.maxMsg, tt.chunks...); got != tt.want {
				if len(got) > 80 {
					got = fmt.Sprintf("%d bytes ending %q", len(got), got[len(got)-10:])
				}
				t.Fatalf("got %q, want %q", got, shorten(tt.want))
			}
		})
	}
}

func shorten(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%d bytes ending %q", len(s), s[len(s)-10:])
	}
	return s
}

func TestStreamReaderIdleHoldsNoBuffer(t *testing.T) {
	t.Parallel()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	sr, _ := NewStreamReader(r, false, 0)
	w.Write([]byte("line\n"))
	sr.Fill()
	for _, _, ok := sr.Next(); ok; _, _, ok = sr.Next() {
	}
	// A deadline already past makes fill try once, find nothing, and stop
	// where it would otherwise park: the buffer must be back in the pool.
	r.SetReadDeadline(time.Now().Add(-time.Second))
	if err := sr.Fill(); err == nil {
		t.Fatal("fill returned data from an empty pipe")
	}
	if sr.buf != nil {
		t.Fatal("a stream waiting for output holds a buffer")
	}
}

func TestRuneCut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want int
	}{
		{"abc", 3, 3},
		{"aé", 2, 1},    // cutting inside é backs off
		{"aé", 3, 3},    // é complete
		{"€", 2, 2},     // nothing before it: never 0
		{"a\xff", 2, 2}, // invalid bytes cut anywhere
		{"ab€", 4, 2},
	}
	for _, tt := range tests {
		if got := RuneCut([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("RuneCut(%q, %d) = %d, want %d", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestUTF8Check(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks []string
		ok     bool
	}{
		{"ascii", []string{"abc"}, true},
		{"split character", []string{"a\xc3", "\xa9b"}, true},
		{"split 4-byte character", []string{"\xf0\x9f", "\x98", "\x80"}, true},
		{"replacement char is valid", []string{"\xef\xbf\xbd"}, true},
		{"invalid byte", []string{"a\xffb"}, false},
		{"truncated at end", []string{"a\xc3"}, false},
		{"bad continuation across chunks", []string{"\xc3", "a"}, false},
		{"surrogate", []string{"\xed\xa0\x80"}, false},
	}
	for _, tt := range tests {
		var c UTF8Check
		ok := true
		for _, ch := range tt.chunks {
			ok = ok && c.Feed([]byte(ch))
		}
		ok = ok && c.End()
		if ok != tt.ok {
			t.Errorf("%s: valid=%v, want %v", tt.name, ok, tt.ok)
		}
	}
}

func TestAppendValidUTF8(t *testing.T) {
	t.Parallel()
	got := string(AppendValidUTF8(nil, []byte("a\xffb\xc3(é")))
	if got != "a\uFFFDb\uFFFD(é" || !utf8.ValidString(got) {
		t.Fatalf("got %q", got)
	}
}

func TestAppendJSONText(t *testing.T) {
	t.Parallel()
	in := "q\"b\\s\n\r\t\x01\x7f é \xff <&>"
	b := append([]byte(`"`), AppendJSONText(nil, []byte(in))...)
	b = append(b, '"')
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if want := strings.ReplaceAll(in, "\xff", "\uFFFD"); s != want {
		t.Fatalf("round trip %q, want %q", s, want)
	}
}

func TestNextMessageBuffered(t *testing.T) {
	t.Parallel()
	frame := func(b0 byte, payload int, masked bool) []byte {
		var f []byte
		f = append(f, b0)
		m := byte(0)
		if masked {
			m = 0x80
		}
		switch {
		case payload < 126:
			f = append(f, m|byte(payload))
		case payload < 1<<16:
			f = append(f, m|126, byte(payload>>8), byte(payload))
		default:
			f = append(f, m|127, 0, 0, 0, 0, byte(payload>>24), byte(payload>>16), byte(payload>>8), byte(payload))
		}
		if masked {
			f = append(f, 1, 2, 3, 4)
		}
		return append(f, make([]byte, payload)...)
	}
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"nothing", nil, false},
		{"whole text frame", frame(0x81, 10, true), true},
		{"whole binary frame, 16-bit length", frame(0x82, 300, true), true},
		{"partial frame", frame(0x81, 300, true)[:100], false},
		{"fragment", frame(0x01, 10, true), false},
		{"ping", frame(0x89, 0, true), false},
		{"close", frame(0x88, 2, true), false},
		{"64-bit length, partial", frame(0x82, 70000, true)[:5000], false},
	}
	for _, tt := range tests {
		br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(tt.data)), 1<<17)
		br.Peek(len(tt.data)) // fill the buffer as the connection would
		if got := NextMessageBuffered(br); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
