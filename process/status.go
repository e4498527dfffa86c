package process

import (
	"fmt"
	"syscall"
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
