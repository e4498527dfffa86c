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
	raw := rawConn(conn)
	if raw == nil {
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

// maxIovecs stays under IOV_MAX (1024 on Linux and the BSDs).
const maxIovecs = 512

// nonblockingWritev is nonblockingWriter for several buffers, written with
// writev: as much as the socket takes, in order, never waiting.
func nonblockingWritev(conn net.Conn) func(bufs [][]byte) int {
	raw := rawConn(conn)
	if raw == nil {
		return nil
	}
	return func(bufs [][]byte) int {
		total := 0
		raw.Write(func(fd uintptr) bool {
			var first []byte // what is left of bufs[0] after a short write
			for len(bufs) > 0 {
				iov := bufs[:min(len(bufs), maxIovecs)]
				if first != nil {
					iov = append([][]byte{first}, iov[1:]...)
				}
				m, err := writev(int(fd), iov)
				if err == unix.EINTR {
					continue
				}
				if err != nil || m <= 0 {
					break
				}
				total += m
				// Step over what was taken.
				for m > 0 && len(bufs) > 0 {
					cur := bufs[0]
					if first != nil {
						cur = first
					}
					if m < len(cur) {
						first = cur[m:]
						m = 0
						break
					}
					m -= len(cur)
					bufs, first = bufs[1:], nil
				}
			}
			return true // never wait: what did not fit is the caller's or pending
		})
		return total
	}
}

// rawConn is conn's descriptor, for writes of our own; nil if it has none
// (TLS).
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
