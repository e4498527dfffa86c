//go:build unix

package terminal

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// chunkSource is what readChunk reads: the terminal's descriptor, read
// without waiting once it is ready so a read takes all that is there.
type chunkSource = syscall.RawConn

func newChunkSource(f *os.File) (chunkSource, error) { return f.SyscallConn() }

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
