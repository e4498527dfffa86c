//go:build linux && !portable

package process

import (
	"bytes"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// groupHasLiveMember scans /proc for a process of group pgid that is not a
// zombie. It runs only while a finished session's group is still non-empty.
// Without /proc (a container without it mounted) it assumes the worst.
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

// signalSessionJobs signals every process of session sid outside its
// leader's group: the jobs of a shell with job control.
func signalSessionJobs(sid int, sig syscall.Signal) {
	for proc := range liveProcs() {
		if proc.ok && proc.sid == sid && proc.pgrp != sid {
			unix.Kill(proc.pid, sig)
		}
	}
}
