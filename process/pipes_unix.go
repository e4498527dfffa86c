//go:build (unix && !linux) || (linux && portable)

package process

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// cloexecSocketpair makes a connected pair of stream sockets. Without
// SOCK_CLOEXEC (macOS) the flag is set afterwards, under syscall.ForkLock,
// which every fork of the daemon (os/exec's too) holds for writing: no child
// started meanwhile inherits the pair.
func cloexecSocketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}

// cloexecPipe makes a pipe, [0] reading and [1] writing, close-on-exec the
// same way.
func cloexecPipe() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}
