// Package process runs one child program for one session: its argv and
// environment, the pipes (or terminal) it talks through, the process group it
// leads, the escalating kill sequence that ends that group, and its exit
// status. It knows nothing about WebSockets.
package process

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes a child to start.
type Config struct {
	// Path is the executable, already resolved (see Resolve).
	Path string
	// Args is the full argv, Args[0] included.
	Args []string
	// Env is the complete environment; nothing is inherited.
	Env []string
	// Dir is the working directory; empty means the daemon's.
	Dir string
	// Grace is added to every wait of the kill sequence (websocketd's
	// --closems).
	Grace time.Duration
	// Terminal, when set, runs the child on a pseudo-terminal of that size
	// instead of pipes.
	Terminal *Winsize
	// NoEcho starts a Terminal with input echo off, set before the child
	// runs so not even its first input can be echoed.
	NoEcho bool
}

// Process is a running child and the process group it leads.
//
// The daemon's side of each stream is a non-blocking descriptor registered
// with Go's network poller, so a session blocked on it parks a goroutine, not
// a thread, and deadlines and Close interrupt it.
type Process struct {
	Pid int

	// Stdin is written to by the session; CloseStdin ends it.
	Stdin *os.File
	// Stdout carries the child's standard output (and, on a terminal, its
	// standard error and echo too).
	Stdout *os.File
	// Stderr carries the child's standard error. On pipes it is the same
	// socket as Stdin (read from it, write to Stdin); nil on a terminal.
	Stderr *os.File

	grace    time.Duration
	stdinMu  sync.Once
	stopping atomic.Bool
	stopCh   chan struct{}
	done     chan struct{}
	status   Status
	// reaped is closed by the child watcher once it has reaped the child,
	// after writing exitStatus.
	reaped     chan struct{}
	exitStatus Status
	// supervisor starts the goroutine that ends the group, on the child's
	// exit or on Stop, whichever comes first: until then a running child
	// costs no goroutine.
	supervisor sync.Once
	started    time.Time

	procSys // what the platform needs: a terminal, or a job object
}

// ErrNotExecutable reports a command that exists but cannot be run.
var ErrNotExecutable = errors.New("not executable")

// Resolve finds name the way a shell would (PATH for a bare name, otherwise
// relative to the working directory) and checks that it is an executable
// regular file, so a misconfigured command fails at startup rather than on
// the first connection.
func Resolve(name string) (string, error) {
	path := name
	if !strings.ContainsAny(name, pathSeparators) {
		found, err := exec.LookPath(name)
		if err != nil && !errors.Is(err, exec.ErrDot) {
			if errors.Is(err, exec.ErrNotFound) {
				return "", fmt.Errorf("command %q: not found in PATH", name)
			}
			// Found on PATH but unusable: report it as such below.
			if found == "" {
				return "", fmt.Errorf("command %q: %w", name, err)
			}
		}
		path = found
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("command %q: not found", name)
	}
	if err != nil {
		return "", fmt.Errorf("command %q: %w", name, err)
	}
	if !info.Mode().IsRegular() || !Executable(path, info.Mode()) {
		return "", fmt.Errorf("command %q: %w", name, ErrNotExecutable)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}

// Start launches the child in a process group of its own (a job object on
// Windows) and begins supervising it. The caller must eventually see Done
// closed, which happens only after the whole group is gone and the child is
// reaped.
func Start(cfg Config) (*Process, error) {
	p := &Process{
		grace:   cfg.Grace,
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
		reaped:  make(chan struct{}),
		started: time.Now(),
	}
	if err := p.spawn(cfg); err != nil {
		return nil, fmt.Errorf("spawn %s: %w", cfg.Path, err)
	}
	return p, nil
}

// exited is called by the child watcher with the reaped child's status.
func (p *Process) exited(st Status) {
	p.exitStatus = st
	close(p.reaped)
	p.supervise()
}

// supervise starts the supervisor, once.
func (p *Process) supervise() {
	p.supervisor.Do(func() { go p.superviseGroup() })
}

// closeAll closes files; one listed twice is closed once (Close is
// idempotent).
func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// StdinWait is how long the kill sequence gives the child after closing its
// stdin before the first signal: the time it has to answer what it read.
func (p *Process) StdinWait() time.Duration { return waitAfterStdin + p.grace }

// StopTime is how long the kill sequence lasts from Stop to its SIGKILL.
func (p *Process) StopTime() time.Duration {
	return waitAfterStdin + waitAfterSIGINT + waitAfterSIGTERM + 3*p.grace
}

// Stop begins the kill sequence if the child has not ended already: close
// stdin, then SIGINT, SIGTERM and SIGKILL to the whole group, each after a
// wait (on Windows: close stdin, Ctrl-Break, then end the job object). It returns at once; Done reports the end.
func (p *Process) Stop() {
	if p.stopping.CompareAndSwap(false, true) {
		close(p.stopCh)
		p.supervise()
	}
}

// Kill ends the whole group at once (SIGKILL; on Windows the job), for when there is no time
// left for the kill sequence.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	// The signal goes first: Stop closes stdin, and a child that ends
	// cleanly on end of input must not get the time to (that would be the
	// goodbye of a kill sequence, which a killed program never gets).
	p.killGroup()
	p.Stop() // the supervisor reaps the group and closes what is left
}

// Done is closed once the child is reaped and no member of its process group
// remains (on a terminal: no member of the session it leads, whose jobs a
// shell puts in process groups of their own).
func (p *Process) Done() <-chan struct{} { return p.done }

// Status is the child's exit status; valid once Done is closed.
func (p *Process) Status() Status { return p.status }

// Started is when the child was spawned.
func (p *Process) Started() time.Time { return p.started }

// Release closes the daemon's ends of the streams. Call it after Done, once
// the session has read what it wants; reads blocked on them return.
func (p *Process) Release() {
	p.CloseStdin()
	p.closeStreams()
}

func (p *Process) closeStreams() {
	// Stdin and Stderr are one socket on Unix, and on a terminal Stdin and
	// Stdout are the terminal: Close is idempotent.
	for _, f := range []*os.File{p.Stdin, p.Stdout, p.Stderr, p.terminal()} {
		if f != nil {
			f.Close()
		}
	}
}
