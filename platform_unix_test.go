//go:build unix

package main_test

import (
	"errors"
	"syscall"
)

// ownSession starts a benchmark's server in a session of its own, as systemd
// starts a service, so the kernel's autogroup scheduler shares the machine
// fairly between it and the load generator.
func ownSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// killGroup kills process group pgid at once.
func killGroup(pgid int) { syscall.Kill(-pgid, syscall.SIGKILL) }

// groupEmpty reports whether process group pgid has no member, not even a
// zombie.
func groupEmpty(pgid int) bool { return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) }
