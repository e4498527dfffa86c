//go:build linux && !portable

package process_test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Finding the jobs of a session needs /proc: the portable build waits for
// and signals only the leader's group (see group_unix.go).

// A shell with job control runs each job in a process group of its own, in
// the session the child leads on its terminal: a background job left
// running when the shell exits gets the kill sequence too.
func TestTerminalJobsEndWithTheSession(t *testing.T) {
	t.Parallel()
	p := startTerminal(t, true, `set -m; sleep 60 & echo "bg=$! pgid=$(ps -o pgid= -p $!)"; exit 4`)
	out := readAll(t, p.Stdout)
	var bg, pgid int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "bg=%d pgid=%d", &bg, &pgid); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if pgid == p.Pid {
		t.Fatalf("the job is in the shell's group %d: job control is off", pgid)
	}
	if st := waitDone(t, p, 5*time.Second); st.Code != 4 {
		t.Fatalf("status %v, want the shell's exit status 4", st)
	}
	if procAlive(bg) {
		t.Fatalf("background job %d still runs after the session ended", bg)
	}
}

// procAlive reports whether pid runs and is not a zombie.
func procAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}
