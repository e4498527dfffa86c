//go:build unix

package process

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openTerminal makes a pseudo-terminal; the child gets the terminal side as
// all three standard streams. Size and echo are set on it before the child
// exists, so the child never sees other settings.
func (p *Process) openTerminal(size Winsize, echo bool) (child []*os.File, err error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	// creack/pty hands the master over in blocking mode, where Close cannot
	// interrupt a Read: it is re-wrapped below, and this one always goes.
	defer master.Close()
	fd := -1
	defer func() {
		if err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			tty.Close()
		}
	}()
	if err := setWinsize(int(master.Fd()), size); err != nil {
		return nil, err
	}
	if !echo {
		if err := setEcho(int(tty.Fd()), false); err != nil {
			return nil, err
		}
	}
	// Re-wrap the descriptor non-blocking so it joins the poller like the
	// pipes do.
	// F_DUPFD_CLOEXEC, not Dup then CloseOnExec: a program another session
	// starts in between would inherit this terminal's master.
	if fd, err = unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0); err != nil {
		fd = -1
		return nil, fmt.Errorf("open pty: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	p.tty = os.NewFile(uintptr(fd), "pty")
	p.Stdin, p.Stdout = p.tty, p.tty
	return []*os.File{tty, tty, tty}, nil
}

// TerminalsSupported reports whether Config.Terminal works here.
const TerminalsSupported = true

// Resize changes the terminal's size; the kernel sends the child SIGWINCH. It
// goes through the raw descriptor rather than pty.Setsize, which would put
// the master back into blocking mode.
func (p *Process) Resize(size Winsize) error {
	if p.tty == nil {
		return fmt.Errorf("resize: not a terminal")
	}
	rc, err := p.tty.SyscallConn()
	if err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setWinsize(int(fd), size) }); err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	return serr
}

func setWinsize(fd int, size Winsize) error {
	if size.Cols == 0 || size.Rows == 0 {
		size = Winsize{Cols: 80, Rows: 24}
	}
	ws := &unix.Winsize{Col: size.Cols, Row: size.Rows}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("set terminal size: %w", err)
	}
	return nil
}

func setEcho(fd int, on bool) error {
	t, err := unix.IoctlGetTermios(fd, getTermios)
	if err != nil {
		return fmt.Errorf("terminal echo: %w", err)
	}
	if on {
		t.Lflag |= unix.ECHO
	} else {
		t.Lflag &^= unix.ECHO
	}
	if err := unix.IoctlSetTermios(fd, setTermios, t); err != nil {
		return fmt.Errorf("terminal echo: %w", err)
	}
	return nil
}
