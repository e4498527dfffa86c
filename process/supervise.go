package process

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The waits of the kill sequence, before Config.Grace is added: websocketd's,
// so programs written for it get the same time to clean up.
const (
	waitAfterStdin   = 100 * time.Millisecond
	waitAfterSIGINT  = 250 * time.Millisecond
	waitAfterSIGTERM = 500 * time.Millisecond
	// After SIGKILL the leader dies for certain; members that left the group's
	// reach (a setsid daemon) are not ours to wait for past this.
	waitAfterSIGKILL = 2 * time.Second
	groupPoll        = 10 * time.Millisecond
)

// superviseGroup ends the child's process group. It starts when the child
// exits or Stop is called, waits for the child to exit or for Stop, then
// makes sure nothing of the process group survives: a session owns its
// group, so background jobs the child left behind are ended with the same
// sequence as the child itself.
func (p *Process) superviseGroup() {
	defer close(p.done)
	p.waitGone(time.Time{}, true)
	steps := []struct {
		act  func()
		wait time.Duration
	}{
		{p.CloseStdin, waitAfterStdin},
		{func() { p.signalGroup(unix.SIGINT) }, waitAfterSIGINT},
		{func() { p.signalGroup(unix.SIGTERM) }, waitAfterSIGTERM},
		{func() { p.signalGroup(unix.SIGKILL) }, waitAfterSIGKILL},
	}
	for _, step := range steps {
		if p.gone() {
			break
		}
		step.act()
		p.waitGone(time.Now().Add(step.wait+p.grace), false)
	}
	if !p.status.reaped {
		// Only a leader stuck in uninterruptible sleep gets here; reaping it
		// is the one wait we cannot skip without leaving a zombie.
		p.waitLeader(time.Time{}, false)
	}
}

// waitGone waits until the leader is reaped and its group is empty, until the
// deadline (zero: none), or, with untilStop, until Stop is called.
func (p *Process) waitGone(deadline time.Time, untilStop bool) {
	if !p.waitLeader(deadline, untilStop) {
		return
	}
	if untilStop {
		// The leader ended by itself: the group gets the kill sequence only
		// if something of it is left.
		return
	}
	for p.groupAlive() {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return
		}
		time.Sleep(groupPoll)
	}
}

// waitLeader waits for the child watcher to reap the leader. It reports
// whether it has been reaped; false means the deadline passed or Stop was
// called.
func (p *Process) waitLeader(deadline time.Time, untilStop bool) bool {
	if p.status.reaped {
		return true
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	var stop <-chan struct{}
	if untilStop {
		stop = p.stopCh
	}
	select {
	case <-p.reaped:
		p.status = p.exitStatus
		return true
	case <-stop:
	case <-timeout:
	}
	return false
}

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

func (p *Process) gone() bool {
	return p.status.reaped && !p.groupAlive()
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
	// member that is not one.
	return groupHasLiveMember(p.Pid)
}

// groupHasLiveMember scans /proc for a process of group pgid that is not a
// zombie. It runs only while a finished session's group is still non-empty.
// Without /proc it assumes the worst.
func groupHasLiveMember(pgid int) bool {
	found, ok := scanProc(func(_, group, _ int) bool { return group == pgid })
	return found || !ok
}

// sessionHasLiveMember is groupHasLiveMember for the session sid.
func sessionHasLiveMember(sid int) bool {
	found, ok := scanProc(func(_, _, session int) bool { return session == sid })
	return found || !ok
}

// scanProc reports whether a process that is not a zombie matches, by pid,
// process group and session. ok is false without /proc.
func scanProc(match func(pid, pgrp, sid int) bool) (found, ok bool) {
	for pid := range liveProcs() {
		if pid.ok && match(pid.pid, pid.pgrp, pid.sid) {
			return true, true
		}
		if !pid.ok {
			return false, false
		}
	}
	return false, true
}

// procIDs are a live process's ids; ok is false for the one entry that
// says /proc cannot be read.
type procIDs struct {
	pid, pgrp, sid int
	ok             bool
}

// liveProcs yields every process of /proc that is not a zombie.
func liveProcs() func(yield func(procIDs) bool) {
	return func(yield func(procIDs) bool) {
		dir, err := os.Open("/proc")
		if err != nil {
			yield(procIDs{})
			return
		}
		defer dir.Close()
		names, err := dir.Readdirnames(-1)
		if err != nil {
			yield(procIDs{})
			return
		}
		var buf [512]byte
		for _, name := range names {
			if name[0] < '0' || name[0] > '9' {
				continue
			}
			pid, err := strconv.Atoi(name)
			if err != nil {
				continue
			}
			f, err := os.Open("/proc/" + name + "/stat")
			if err != nil {
				continue
			}
			n, _ := f.Read(buf[:])
			f.Close()
			state, pgrp, sid, ok := parseStatIDs(buf[:n])
			if !ok || state == 'Z' || state == 'X' {
				continue
			}
			if !yield(procIDs{pid: pid, pgrp: pgrp, sid: sid, ok: true}) {
				return
			}
		}
	}
}

// parseStat reads the state and process group from /proc/PID/stat:
// "pid (comm) state ppid pgrp ...", where comm may itself hold spaces and
// parentheses.
func parseStat(b []byte) (state byte, pgrp int, ok bool) {
	state, pgrp, _, ok = parseStatIDs(b)
	return state, pgrp, ok
}

// parseStatIDs also reads the session: "pid (comm) state ppid pgrp session".
func parseStatIDs(b []byte) (state byte, pgrp, sid int, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, 0, false
	}
	fields := bytes.Fields(b[i+2:])
	if len(fields) < 3 {
		return 0, 0, 0, false
	}
	pgrp, err := strconv.Atoi(string(fields[2]))
	if err != nil {
		return 0, 0, 0, false
	}
	if len(fields) > 3 {
		sid, _ = strconv.Atoi(string(fields[3]))
	}
	return fields[0][0], pgrp, sid, true
}

// signalGroup signals the child's process group, and on a terminal every
// process of the session it leads: the jobs of a shell with job control.
func (p *Process) signalGroup(sig syscall.Signal) {
	unix.Kill(-p.Pid, sig)
	if p.tty == nil {
		return
	}
	for proc := range liveProcs() {
		if proc.ok && proc.sid == p.Pid && proc.pgrp != p.Pid {
			unix.Kill(proc.pid, sig)
		}
	}
}
