// Package frame carries bytes between a child's streams and WebSocket
// messages, for every session kind: it cuts output into messages, batches
// client messages into stdin, corks frames into few writes and lends the
// buffers all of that borrows.
package frame

import "sync"

// ChunkSize is the largest single read from a child and the size of the batch
// written to its stdin: large enough that a busy stream costs few syscalls,
// small enough to borrow per burst. Sessions hold one only while data is in
// flight, so idle sessions cost no buffer memory.
const ChunkSize = 32 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// GetChunk borrows a ChunkSize buffer.
func GetChunk() []byte { return *(chunkPool.Get().(*[]byte)) }

// PutChunk gives a buffer back; one of another size is left to the garbage
// collector.
func PutChunk(b []byte) {
	b = b[:cap(b)]
	if cap(b) != ChunkSize {
		return
	}
	chunkPool.Put(&b)
}
