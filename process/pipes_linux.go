//go:build linux && !portable

package process

import "golang.org/x/sys/unix"

// cloexecSocketpair makes a connected pair of stream sockets, close-on-exec
// from birth, so no child another session starts meanwhile inherits them.
func cloexecSocketpair() ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
}

// cloexecPipe makes a pipe, close-on-exec from birth: [0] reads, [1] writes.
func cloexecPipe() ([2]int, error) {
	var fds [2]int
	err := unix.Pipe2(fds[:], unix.O_CLOEXEC)
	return fds, err
}
