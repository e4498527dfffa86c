//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package process

import "golang.org/x/sys/unix"

// The ioctls that read and set a terminal's termios.
const (
	getTermios = unix.TIOCGETA
	setTermios = unix.TIOCSETA
)
