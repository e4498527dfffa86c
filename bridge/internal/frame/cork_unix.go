//go:build unix

package frame

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// nonblockingWriter returns a write to conn's socket that takes what the
// socket takes and never waits, or nil if conn has no descriptor of its own.
func nonblockingWriter(conn net.Conn) func(p []byte) int {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(p []byte) int {
		n := 0
		raw.Write(func(fd uintptr) bool {
			for n < len(p) {
				m, err := unix.Write(int(fd), p[n:])
				if err == unix.EINTR {
					continue
				}
				if err != nil || m <= 0 {
					break
				}
				n += m
			}
			return true // never wait: what did not fit is the caller's or pending
		})
		return n
	}
}
