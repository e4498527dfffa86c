package frame

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func record(typ byte, payload string) string {
	h := make([]byte, RecordHeaderSize)
	PutRecordHeader(h, typ, len(payload))
	return string(h) + payload
}

// splitPieces is pieces for any split: each piece with its record type
// (T or B) in record mode, and the reader's error at the end.
func splitPieces(t *testing.T, split Split, maxMsg int, chunks ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sr, err := NewSplitReader(r, split, maxMsg)
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
			if split == SplitRecords {
				out.WriteString(map[byte]string{RecordText: "T:", RecordBinary: "B:"}[sr.RecordType()])
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
	return out.String(), sr.Err()
}

func TestRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		maxMsg  int
		chunks  []string
		want    string
		errWhat string
		offset  int64
	}{
		{"typed and whole", 0, []string{record(1, "a\nb") + record(2, "\x00\xff") + record(1, "")}, "T:a\nb|B:\x00\xff|T:|", "", 0},
		{"header across reads", 0, []string{record(1, "hey")[:3], record(1, "hey")[3:] + record(2, "")}, "T:hey|B:|", "", 0},
		{"character across reads", 0, []string{record(1, "é")[:6], record(1, "é")[6:]}, "T:é|", "", 0},
		{"unknown type", 0, []string{record(1, "ok") + record(7, "x")}, "T:ok|", "unknown record type 7", 7},
		{"over the limit", 4, []string{record(2, "1234") + record(2, "12345")}, "B:1234|", "over --maxframesize=4", 9},
		{"invalid UTF-8", 0, []string{record(1, "ok") + record(1, "a\xffb")}, "T:ok|", "not valid UTF-8", 7},
		{"text cut inside a character", 0, []string{record(1, "ok") + record(1, "a\xc3")}, "T:ok|", "ends inside a character", 7},
		{"end inside a header", 0, []string{record(2, "ok") + "\x01\x00"}, "B:ok|", "inside a record header", 7},
		{"end inside a payload", 0, []string{record(2, "ok") + record(1, "abcdef")[:8]}, "B:ok|", "3 payload bytes missing", 7},
	}
	for _, tt := range tests {
		got, err := splitPieces(t, SplitRecords, tt.maxMsg, tt.chunks...)
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
		var re *RecordError
		switch {
		case tt.errWhat == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.errWhat != "" && (!errors.As(err, &re) || !strings.Contains(re.What, tt.errWhat) || re.Offset != tt.offset):
			t.Errorf("%s: err %v, want %q at offset %d", tt.name, err, tt.errWhat, tt.offset)
		}
	}
}

// A record longer than the buffer streams out in pieces, whole in the end.
func TestLongRecordStreams(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", ChunkSize/2+100) // more than a chunk, less than a pipe holds
	got, err := splitPieces(t, SplitRecords, 0, record(1, long))
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.NewReplacer("T:", "", "+", "").Replace(got)
	if !strings.HasSuffix(msg, "|") || msg[:len(msg)-1] != long || !strings.Contains(got, "+") {
		t.Fatalf("a %d-byte record came back as %d bytes (streamed: %v)", len(long), len(msg)-1, strings.Contains(got, "+"))
	}
}

func TestSplitNUL(t *testing.T) {
	t.Parallel()
	got, _ := splitPieces(t, SplitNUL, 0, "a\nb\x00\x00c\r\x00", "last")
	if want := "a\nb||c\r|last|"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
