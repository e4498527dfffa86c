package bridge

import "sync"

// chunkSize is the largest single read from a child and the size of the batch
// written to its stdin: large enough that a busy stream costs few syscalls,
// small enough to borrow per burst. Sessions hold one only while data is in
// flight, so idle sessions cost no buffer memory.
const chunkSize = 32 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

func getChunk() []byte { return *(chunkPool.Get().(*[]byte)) }

func putChunk(b []byte) {
	b = b[:cap(b)]
	if cap(b) != chunkSize {
		return
	}
	chunkPool.Put(&b)
}
