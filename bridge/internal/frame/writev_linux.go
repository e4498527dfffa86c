//go:build linux && !portable

package frame

import "golang.org/x/sys/unix"

// writev writes iov in one system call: a client with several batches
// waiting gets them in one write.
func writev(fd int, iov [][]byte) (int, error) { return unix.Writev(fd, iov) }
