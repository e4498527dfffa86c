// Package frame carries bytes between a child's streams and WebSocket
// messages, for every session kind: it cuts output into messages, batches
// client messages into stdin, corks frames into few writes and lends the
// buffers all of that borrows.
package frame

import (
	"math/bits"
	"sync"
)

// ChunkSize is the largest single read from a child and the size of the batch
// written to its stdin: large enough that a busy stream costs few syscalls,
// small enough to borrow per burst. Sessions hold one only while data is in
// flight, so idle sessions cost no buffer memory.
const ChunkSize = 32 << 10

// pools[i] holds buffers of ChunkSize<<i bytes, up to 4 MiB. A client
// message larger than a chunk (up to --maxframesize) is held in a buffer of
// twice, four times... a chunk: without reuse each such message cost its
// size in garbage, and collecting it was a third of the daemon's CPU on
// 64 KiB messages. Larger buffers are left to the garbage collector.
var pools [8]sync.Pool

// GetChunk borrows a ChunkSize buffer.
func GetChunk() []byte { return GetBuffer(ChunkSize) }

// GetBuffer borrows a buffer of at least n bytes: a chunk, or a power of
// two times one.
func GetBuffer(n int) []byte {
	class := 0
	for ChunkSize<<class < n {
		class++
	}
	if class >= len(pools) {
		return make([]byte, n)
	}
	if b, ok := pools[class].Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, ChunkSize<<class)
}

// PutChunk gives back a buffer from GetChunk or GetBuffer; one of another
// size is left to the garbage collector.
func PutChunk(b []byte) {
	b = b[:cap(b)]
	size := len(b)
	if size < ChunkSize || size%ChunkSize != 0 || bits.OnesCount(uint(size/ChunkSize)) != 1 {
		return
	}
	class := bits.Len(uint(size/ChunkSize)) - 1
	if class >= len(pools) {
		return
	}
	pools[class].Put(&b)
}
