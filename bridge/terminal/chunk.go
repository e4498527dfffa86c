package terminal

import (
	"sync/atomic"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// outChunk is output read from the terminal, shared by the queues of every
// client it goes to and given back to the pool by the last one.
type outChunk struct {
	b      []byte
	pooled bool
	refs   atomic.Int32
}

// newOutChunk takes buf[:n] from the pool. Small reads are copied out so a
// slow client's queue holds what it is owed, not a 32 KiB buffer per byte.
func newOutChunk(buf []byte, n int) *outChunk {
	c := &outChunk{b: buf[:n], pooled: true}
	if n < frame.ChunkSize/4 {
		c.b = append([]byte(nil), buf[:n]...)
		c.pooled = false
		frame.PutChunk(buf)
	}
	c.refs.Store(1)
	return c
}

// newOwnedChunk wraps bytes that belong to no pool (a replay).
func newOwnedChunk(b []byte) *outChunk {
	c := &outChunk{b: b}
	c.refs.Store(1)
	return c
}

func (c *outChunk) release() {
	if c.refs.Add(-1) == 0 && c.pooled {
		frame.PutChunk(c.b)
	}
}
