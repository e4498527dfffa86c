//go:build unix

package process

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// killSteps: close stdin, then SIGINT, SIGTERM and SIGKILL to the group.
func (p *Process) killSteps() []killStep {
	return []killStep{
		{p.CloseStdin, waitAfterStdin},
		{func() { p.signalGroup(unix.SIGINT) }, waitAfterSIGINT},
		{func() { p.signalGroup(unix.SIGTERM) }, waitAfterSIGTERM},
		{func() { p.signalGroup(unix.SIGKILL) }, waitAfterSIGKILL},
	}
}

// ended: the group is gone and the child reaped; on Unix nothing is left
// to let go of (the streams are the session's, see Release).
func (p *Process) ended() {}

// reap collects a child's exit status with wait4. ok is false only when
// WNOHANG found it still running.
func reap(pid int, flags int) (st Status, ok bool) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, flags, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			// ECHILD: someone else reaped it; its status is lost.
			return Status{reaped: true, Code: -1}, true
		case got != pid:
			return Status{}, false
		}
		st = statusFromWait(ws)
		st.reaped = true
		return st, true
	}
}

// groupAlive reports whether any process remains in the child's group (on a
// terminal: in its session). Once the group is empty its id could in
// principle be handed out again, but the kernel allocates pids cyclically,
// so reuse within our short polling window would take a full wrap of the
// pid space.
func (p *Process) groupAlive() bool {
	if p.tty != nil {
		// A shell with job control puts each job in a process group of its
		// own, all in the session the child leads: the session is what
		// the child owns.
		return sessionHasLiveMember(p.Pid)
	}
	err := unix.Kill(-p.Pid, 0)
	if err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	// kill succeeds while zombies remain, and an orphan's zombie lasts until
	// init gets round to reaping it (a second and more in some containers,
	// forever where wsbridge itself is pid 1). Zombies are dead: look for a
	// member that is not one, where the platform can tell.
	return groupHasLiveMember(p.Pid)
}

// signalGroup signals the child's process group, and on a terminal every
// process of the session it leads: the jobs of a shell with job control.
func (p *Process) signalGroup(sig syscall.Signal) {
	unix.Kill(-p.Pid, sig)
	if p.tty != nil {
		signalSessionJobs(p.Pid, sig)
	}
}
