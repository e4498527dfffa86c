package process

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Winsize is a terminal size in character cells.
type Winsize struct {
	Cols, Rows uint16
}

// openTerminal makes a pseudo-terminal; the child gets the terminal side as
// all three standard streams. Size and echo are set on it before the child
// exists, so the child never sees other settings.
func (p *Process) openTerminal(size Winsize, echo bool) ([]*os.File, error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	err = setWinsize(int(master.Fd()), size)
	if err == nil && !echo {
		err = setEcho(int(tty.Fd()), false)
	}
	if err != nil {
		master.Close()
		tty.Close()
		return nil, err
	}
	// creack/pty hands the master over in blocking mode, where Close cannot
	// interrupt a Read. Re-wrap the descriptor non-blocking so it joins the
	// poller like the pipes do.
	fd, err := unix.Dup(int(master.Fd()))
	master.Close()
	if err != nil {
		tty.Close()
		return nil, fmt.Errorf("open pty: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		tty.Close()
		return nil, fmt.Errorf("open pty: %w", err)
	}
	p.tty = os.NewFile(uintptr(fd), "pty")
	p.Stdin, p.Stdout = p.tty, p.tty
	return []*os.File{tty, tty, tty}, nil
}

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
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("terminal echo: %w", err)
	}
	if on {
		t.Lflag |= unix.ECHO
	} else {
		t.Lflag &^= unix.ECHO
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("terminal echo: %w", err)
	}
	return nil
}
