//go:build unix

package process

import (
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procSys is what a child needs on Unix beyond its pipes.
type procSys struct {
	tty *os.File // the terminal's master side; same file as Stdin/Stdout
}

// terminal is the terminal's master side, nil on pipes.
func (p *Process) terminal() *os.File { return p.tty }

// pathSeparators: a command naming one of these is a path, not a name to
// look up on PATH.
const pathSeparators = "/"

// Executable reports whether the daemon may run path, a regular file of that
// mode: an execute bit, and access(2) says so.
func Executable(path string, mode fs.FileMode) bool {
	return mode.Perm()&0o111 != 0 && unix.Access(path, unix.X_OK) == nil
}

// ExecutableHint says how to make path executable.
func ExecutableHint(path string) string { return "chmod +x " + path }

// spawn starts the child with fork and exec: pipes (or a terminal) as its
// standard streams, leading a process group (or, on a terminal, a session)
// of its own, reaped by the one child watcher.
func (p *Process) spawn(cfg Config) error {
	restoreSignalsOnce.Do(restoreIgnoredSignals)
	var childFiles []*os.File
	var err error
	if cfg.Terminal != nil {
		childFiles, err = p.openTerminal(*cfg.Terminal, !cfg.NoEcho)
	} else {
		childFiles, err = p.openPipes()
	}
	if err != nil {
		return err
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
		return err
	}
	p.Pid = pid
	children.add(p)
	return nil
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
	sock, err := cloexecSocketpair()
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

	out, err := cloexecPipe()
	if err != nil {
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

// killGroup ends the whole group at once.
func (p *Process) killGroup() { p.signalGroup(unix.SIGKILL) }
