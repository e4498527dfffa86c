package terminal

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

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

// readChunk waits for output, then reads as much as is there, up to a
// chunk. The end of output is io.EOF: EIO from a terminal whose other side
// is closed, or nothing left once the read deadline has passed (the process
// group is gone, see run).
func readChunk(rc syscall.RawConn) (*outChunk, error) {
	buf := frame.GetChunk()
	n := 0
	var rerr error
	drain := func(fd uintptr) bool {
		for n < len(buf) && rerr == nil {
			m, err := unix.Read(int(fd), buf[n:])
			switch {
			case err == unix.EINTR:
			case err == unix.EAGAIN:
				return n > 0
			case err != nil:
				rerr = err
			case m == 0:
				rerr = io.EOF
			default:
				n += m
			}
		}
		return true
	}
	err := rc.Read(drain)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Never wait again: what is there, then the end.
		err = rc.Control(func(fd uintptr) {
			if !drain(fd) || n == 0 {
				rerr = io.EOF
			}
		})
	}
	if err == nil {
		err = rerr
	}
	if err != nil && (errors.Is(err, unix.EIO) || errors.Is(err, os.ErrClosed)) {
		err = io.EOF
	}
	if n == 0 {
		frame.PutChunk(buf)
		return nil, err
	}
	return newOutChunk(buf, n), err
}
