package main_test

import (
	"os"
	"syscall"
)

// ownSession: Windows has no sessions to start a server in, nor an autogroup
// scheduler to share the machine by them.
func ownSession() *syscall.SysProcAttr { return nil }

// killGroup kills the process pgid; on Windows its job goes with the daemon
// that started it.
func killGroup(pgid int) {
	if p, err := os.FindProcess(pgid); err == nil {
		p.Kill()
	}
}

// groupEmpty reports whether the process pgid is gone (Windows has no
// process groups to ask about; a child's job is the daemon's business).
func groupEmpty(pgid int) bool {
	p, err := os.FindProcess(pgid)
	if err != nil {
		return true
	}
	p.Release()
	return false
}
