//go:build (unix && !linux) || (linux && portable)

package process

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// Without /proc (macOS, FreeBSD) there is no cheap way to list the members of
// a process group or session, so this is what kill(2) can tell:
//
//   - a group counts as alive while kill(-pgid, 0) finds any member, zombies
//     included: an orphan's zombie holds the kill sequence until init reaps
//     it (at once on macOS and FreeBSD, whose init reaps promptly);
//   - on a terminal only the leader's own group is waited for and
//     signalled; jobs a shell with job control put in groups of their own
//     get the kernel's SIGHUP when the terminal closes, and nothing more.

// groupHasLiveMember is called once kill(-pgid, 0) found a member: without
// /proc a zombie cannot be told from a live process, so it counts.
func groupHasLiveMember(pgid int) bool { return true }

// sessionHasLiveMember reports whether the session leader's group (whose id
// is the session's) has any member left.
func sessionHasLiveMember(sid int) bool {
	err := unix.Kill(-sid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// signalSessionJobs: the session's other groups cannot be found without
// /proc; the caller has signalled the leader's group.
func signalSessionJobs(sid int, sig syscall.Signal) {}
