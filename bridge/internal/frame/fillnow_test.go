package frame_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// FillNow on a quiet stream reads nothing and holds no buffer, and a line
// longer than the buffer still arrives whole, in fragments.
func TestFillNow(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe() // non-blocking ends, in Go's poller
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	sr, err := frame.NewStreamReader(r, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sr.FillNow(); got || err != nil {
		t.Fatalf("FillNow on a quiet stream: %v, %v", got, err)
	}
	if _, _, ok := sr.Next(); ok {
		t.Fatal("Next returned a piece of nothing")
	}
	line := strings.Repeat("e", frame.ChunkSize+100)
	go func() { w.Write([]byte(line + "\n")); w.Close() }()
	var msg strings.Builder
	for ended := false; !ended; {
		_, err := sr.FillNow()
		for {
			piece, end, ok := sr.Next()
			if !ok {
				break
			}
			msg.Write(piece)
			if end {
				ended = true
			}
		}
		if err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if msg.String() != line {
		t.Fatalf("got %d bytes, want %d", msg.Len(), len(line))
	}
}
