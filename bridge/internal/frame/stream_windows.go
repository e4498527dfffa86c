package frame

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// open checks that the stream is a pipe: FillNow asks the pipe how much it
// holds before reading.
func (s *StreamReader) open() error {
	t, err := windows.GetFileType(windows.Handle(s.f.Fd()))
	if err != nil {
		return fmt.Errorf("stream %s: %w", s.f.Name(), err)
	}
	if t != windows.FILE_TYPE_PIPE {
		return fmt.Errorf("stream %s: not a pipe", s.f.Name())
	}
	return nil
}

// read reads once into the buffer. An overlapped pipe (see package process)
// parks the goroutine, not a thread, and honours read deadlines; there is no
// readiness to wait for first, so a waiting read holds a buffer. Without
// wait it reads only what the pipe already holds.
func (s *StreamReader) read(wait bool) (got bool, err error) {
	if !wait {
		var avail uint32
		err := peekNamedPipe(windows.Handle(s.f.Fd()), &avail)
		switch {
		case errors.Is(err, windows.ERROR_BROKEN_PIPE):
			return false, io.EOF
		case err != nil:
			return false, fmt.Errorf("peek %s: %w", s.f.Name(), err)
		case avail == 0:
			if s.w == 0 {
				s.Release()
			}
			return false, nil
		}
	}
	if s.buf == nil {
		s.buf = GetChunk()
	}
	n, err := s.f.Read(s.buf[s.w:])
	s.w += n
	if s.w == 0 && err != nil {
		s.Release()
	}
	if errors.Is(err, syscall.ERROR_BROKEN_PIPE) {
		err = io.EOF // the child closed its end
	}
	return n > 0, err
}

// golang.org/x/sys/windows has no PeekNamedPipe.
var procPeekNamedPipe = windows.NewLazySystemDLL("kernel32.dll").NewProc("PeekNamedPipe")

// peekNamedPipe sets avail to the bytes the pipe holds, without reading them.
func peekNamedPipe(h windows.Handle, avail *uint32) error {
	r, _, err := procPeekNamedPipe.Call(uintptr(h), 0, 0, 0, uintptr(unsafe.Pointer(avail)), 0)
	if r == 0 {
		return err
	}
	return nil
}
