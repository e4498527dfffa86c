//go:build unix

package server

import (
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/wsbridge/wsbridge/bridge"
)

// logFDLimit logs the file-descriptor limits the daemon runs with, what is
// open and the reserve the gate keeps free (see bridge/fds.go).
//
// The soft RLIMIT_NOFILE is already raised: since Go 1.19 package syscall's
// init sets it to the hard limit less one on Linux (the one less lets Go see
// whether someone changed it since), and remembers the original, which every
// child started through syscall.ForkExec (os/exec, and package process
// alike) gets back just before exec, so a program written for select(2)
// still finds the limit it expects. Raising it here, with Setrlimit or
// Prlimit, would make Go forget the original, and every child would inherit
// the raised limit; so wsbridge leaves it where Go put it and says so.
func logFDLimit(log *slog.Logger) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		log.Error("file descriptors: getrlimit", "err", err)
		return
	}
	attrs := []any{"soft", rl.Cur, "hard", rl.Max}
	if open, _, reserve, err := bridge.FDStatus(); err == nil {
		attrs = append(attrs, "open", open, "reserve", reserve)
	} else {
		attrs = append(attrs, "err", err)
	}
	if rl.Max != unix.RLIM_INFINITY && rl.Cur+1 < rl.Max {
		attrs = append(attrs, "note", "the soft limit is below the hard one: Go could not raise it")
	}
	log.Info("file descriptors", attrs...)
}
