//go:build unix && (!linux || portable)

package frame

import "golang.org/x/sys/unix"

// writev writes the first buffer of iov only: golang.org/x/sys/unix has
// writev on Linux alone. nonblockingWritev takes it for a short write and
// goes on with the rest, a write per buffer, in the same order.
func writev(fd int, iov [][]byte) (int, error) { return unix.Write(fd, iov[0]) }
