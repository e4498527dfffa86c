package process

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Status is how a child ended: an exit code, or the signal that killed it.
type Status struct {
	// Code is the exit code, or -1 when a signal ended the child or its
	// status was lost.
	Code int
	// Signal is the signal that killed the child, zero if it exited.
	Signal syscall.Signal

	reaped bool
}

func statusFromWait(ws unix.WaitStatus) Status {
	if ws.Signaled() {
		return Status{Code: -1, Signal: ws.Signal()}
	}
	return Status{Code: ws.ExitStatus()}
}

// SignalName is the signal's short name, as kill -l prints it ("KILL").
func (s Status) SignalName() string {
	name := unix.SignalName(s.Signal)
	if name == "" {
		return fmt.Sprintf("%d", int(s.Signal))
	}
	return strings.TrimPrefix(name, "SIG")
}

// String reads like a shell's report: "exit status 3", "killed by signal KILL".
func (s Status) String() string {
	switch {
	case s.Signal != 0:
		return "killed by signal " + s.SignalName()
	case s.Code < 0:
		return "exit status unknown"
	default:
		return fmt.Sprintf("exit status %d", s.Code)
	}
}
