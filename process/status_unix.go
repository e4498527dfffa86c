//go:build unix

package process

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

func statusFromWait(ws unix.WaitStatus) Status {
	if ws.Signaled() {
		return Status{Code: -1, Signal: ws.Signal()}
	}
	return Status{Code: ws.ExitStatus()}
}

// SignalName is the signal's short name, as kill -l prints it ("KILL").
func (s Status) SignalName() string {
	name := unix.SignalName(s.Signal)
	if name == "" {
		return fmt.Sprintf("%d", int(s.Signal))
	}
	return strings.TrimPrefix(name, "SIG")
}
