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
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	tty      *os.File // the terminal's master side; same file as Stdin/Stdout
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
}

// ErrNotExecutable reports a command that exists but cannot be run.
var ErrNotExecutable = errors.New("not executable")

// Resolve finds name the way a shell would (PATH for a bare name, otherwise
// relative to the working directory) and checks that it is an executable
// regular file, so a misconfigured command fails at startup rather than on
// the first connection.
func Resolve(name string) (string, error) {
	path := name
	if !strings.Contains(name, "/") {
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
	if !info.Mode().IsRegular() || unix.Access(path, unix.X_OK) != nil {
		return "", fmt.Errorf("command %q: %w", name, ErrNotExecutable)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}

// Start launches the child in a process group of its own and begins
// supervising it. The caller must eventually see Done closed, which happens
// only after the whole group is gone and the child is reaped.
func Start(cfg Config) (*Process, error) {
	restoreSignalsOnce.Do(restoreIgnoredSignals)
	p := &Process{
		grace:   cfg.Grace,
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
		reaped:  make(chan struct{}),
		started: time.Now(),
	}
	var childFiles []*os.File
	var err error
	if cfg.Terminal != nil {
		childFiles, err = p.openTerminal(*cfg.Terminal, !cfg.NoEcho)
	} else {
		childFiles, err = p.openPipes()
	}
	if err != nil {
		return nil, fmt.Errorf("spawn %s: %w", cfg.Path, err)
	}
	defer closeAll(childFiles)

	sys := &syscall.SysProcAttr{}
	if p.tty != nil {
		// A terminal child leads a new session with the terminal as its
		// controlling tty, so the line discipline delivers ^C to its group.
		sys.Setsid = true
		sys.Setctty = true
		sys.Ctty = 0
	} else {
		sys.Setpgid = true
	}
	fds := make([]uintptr, len(childFiles))
	for i, f := range childFiles {
		fds[i] = f.Fd()
	}
	pid, err := syscall.ForkExec(cfg.Path, cfg.Args, &syscall.ProcAttr{
		Dir:   cfg.Dir,
		Env:   cfg.Env,
		Files: fds,
		Sys:   sys,
	})
	if err != nil {
		p.closeStreams()
		return nil, fmt.Errorf("spawn %s: %w", cfg.Path, err)
	}
	p.Pid = pid
	children.add(p)
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

var restoreSignalsOnce sync.Once

// restoreIgnoredSignals makes sure children start with default signal
// handling. A daemon started from a script with "&" inherits SIGINT and
// SIGQUIT ignored, and would pass that on: Ctrl-C in a browser terminal
// would do nothing. An ignored signal stays ignored across exec, but one
// with a handler is reset to the default, so give each such signal a
// handler that drops it.
func restoreIgnoredSignals() {
	for _, sig := range []os.Signal{unix.SIGINT, unix.SIGQUIT, unix.SIGHUP, unix.SIGTERM, unix.SIGPIPE, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU} {
		if signal.Ignored(sig) {
			signal.Notify(make(chan os.Signal, 1), sig)
		}
	}
}

// stdinBuffer caps what the kernel holds for a child's stdin, about what a
// pipe holds: a child that does not read pushes back on the client early.
const stdinBuffer = 64 << 10

// openPipes makes the three standard streams from two descriptors on the
// daemon's side, not three: stdout is a pipe, and stdin and stderr share one
// socket pair, the child getting its end as both fd 0 and fd 2. The daemon
// writes stdin to and reads stderr from its end; ending stdin is a
// shutdown(SHUT_WR) of that end, which the child reads as EOF. stdout stays
// a pipe of its own so a child that closes it is seen to have closed it,
// whatever it still does with its other streams. The daemon's ends are
// non-blocking (poller-managed); the child's ends stay blocking, as programs
// expect.
func (p *Process) openPipes() (child []*os.File, err error) {
	var daemonEnds []*os.File
	defer func() {
		if err != nil {
			closeAll(daemonEnds)
			closeAll(child)
		}
	}()
	sock, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	inErr := os.NewFile(uintptr(sock[1]), "stdin+stderr")
	child = append(child, inErr)
	if err := unix.SetsockoptInt(sock[0], unix.SOL_SOCKET, unix.SO_SNDBUF, stdinBuffer); err != nil {
		unix.Close(sock[0])
		return child, fmt.Errorf("socketpair: %w", err)
	}
	if err := unix.SetNonblock(sock[0], true); err != nil {
		unix.Close(sock[0])
		return child, fmt.Errorf("socketpair: %w", err)
	}
	daemonEnds = append(daemonEnds, os.NewFile(uintptr(sock[0]), "stdin+stderr"))

	var out [2]int
	if err := unix.Pipe2(out[:], unix.O_CLOEXEC); err != nil {
		return child, fmt.Errorf("pipe: %w", err)
	}
	child = append(child, os.NewFile(uintptr(out[1]), "stdout"), inErr)
	if err := unix.SetNonblock(out[0], true); err != nil {
		unix.Close(out[0])
		return child, fmt.Errorf("pipe: %w", err)
	}
	daemonEnds = append(daemonEnds, os.NewFile(uintptr(out[0]), "stdout"))
	p.Stdin, p.Stdout, p.Stderr = daemonEnds[0], daemonEnds[1], daemonEnds[0]
	return child, nil
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

// CloseStdin tells the child there is no more input. It is safe to call more
// than once and concurrently with a Write blocked on Stdin.
func (p *Process) CloseStdin() {
	p.stdinMu.Do(func() {
		if p.tty != nil {
			// A terminal has no half-close: send the EOF character instead,
			// at the start of a line so the line discipline acts on it. Never
			// wait to write it: a child that does not read its terminal
			// would hold up the kill sequence.
			if rc, err := p.tty.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) { unix.Write(int(fd), []byte{'\n', 4}) })
			}
			return
		}
		// A Write blocked on a child that does not read returns at once,
		// as it did when stdin was a pipe closed here.
		p.Stdin.SetWriteDeadline(time.Now())
		if rc, err := p.Stdin.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_WR) })
		}
	})
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
// wait. It returns at once; Done reports the end.
func (p *Process) Stop() {
	if p.stopping.CompareAndSwap(false, true) {
		close(p.stopCh)
		p.supervise()
	}
}

// Kill ends the whole group at once with SIGKILL, for when there is no time
// left for the kill sequence.
func (p *Process) Kill() {
	p.Stop()
	select {
	case <-p.done:
		return
	default:
	}
	p.signalGroup(unix.SIGKILL)
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
	// Stdin and Stderr are one socket, and on a terminal Stdin and Stdout
	// are the terminal: Close is idempotent.
	for _, f := range []*os.File{p.Stdin, p.Stdout, p.Stderr, p.tty} {
		if f != nil {
			f.Close()
		}
	}
}
