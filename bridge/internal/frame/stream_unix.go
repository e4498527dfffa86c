//go:build unix

package frame

import (
	"io"

	"golang.org/x/sys/unix"
)

// open takes the descriptor the reads go through: a read that finds nothing
// borrows no buffer, and FillNow can read without waiting.
func (s *StreamReader) open() (err error) {
	s.rc, err = s.f.SyscallConn()
	return err
}

// read reads once into the buffer, borrowing it only when the descriptor has
// data; with wait it first waits in Go's poller for some.
func (s *StreamReader) read(wait bool) (got bool, err error) {
	var rerr error
	read := func(fd uintptr) bool {
		if s.buf == nil {
			s.buf = GetChunk()
		}
		for {
			n, err := unix.Read(int(fd), s.buf[s.w:])
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				if s.w == 0 {
					s.Release()
				}
				return !wait
			case err != nil:
				rerr = err
			case n == 0:
				rerr = io.EOF
			default:
				s.w += n
				got = true
			}
			return true
		}
	}
	if wait {
		err = s.rc.Read(read)
	} else {
		err = s.rc.Control(func(fd uintptr) { read(fd) })
	}
	if err == nil {
		err = rerr
	}
	return got, err
}
