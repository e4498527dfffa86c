package process

import (
	"errors"
	"fmt"
)

// ErrNoTerminal is Start's answer to Config.Terminal on Windows. Its
// pseudo-console (ConPTY) is not what creack/pty v1.1.24 offers (that
// release opens Unix terminals only), and the daemon refuses --pty and
// --terminal at startup there, so a session never gets this far.
var ErrNoTerminal = errors.New("terminals (--pty, --terminal) are not supported on Windows")

// TerminalsSupported reports whether Config.Terminal works here.
const TerminalsSupported = false

// Resize fails: there are no terminals on Windows.
func (p *Process) Resize(size Winsize) error {
	return fmt.Errorf("resize: %w", ErrNoTerminal)
}
