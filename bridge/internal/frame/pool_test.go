package frame_test

import (
	"testing"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

func TestGetBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct{ n, want int }{
		{1, frame.ChunkSize},
		{frame.ChunkSize, frame.ChunkSize},
		{frame.ChunkSize + 1, 2 * frame.ChunkSize},
		{100 << 10, 128 << 10},
		{4 << 20, 4 << 20},
		{4<<20 + 1, 4<<20 + 1}, // past the largest pooled size: exactly n
	}
	for _, tt := range tests {
		b := frame.GetBuffer(tt.n)
		if len(b) != tt.want {
			t.Errorf("GetBuffer(%d): %d bytes, want %d", tt.n, len(b), tt.want)
		}
		frame.PutChunk(b)
	}
	frame.PutChunk(make([]byte, 1000)) // not a pooled size: dropped
	if b := frame.GetChunk(); len(b) != frame.ChunkSize {
		t.Fatalf("GetChunk after PutChunk of a stray size: %d bytes", len(b))
	}
}
