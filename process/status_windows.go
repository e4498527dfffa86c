package process

import (
	"fmt"
	"syscall"
)

// signalNames are the signals a Windows child's Status can carry (see
// statusFromExit).
var signalNames = map[syscall.Signal]string{syscall.SIGINT: "INT", syscall.SIGKILL: "KILL"}

// SignalName is the signal's short name, as kill -l prints it ("KILL").
func (s Status) SignalName() string {
	if name, ok := signalNames[s.Signal]; ok {
		return name
	}
	return fmt.Sprintf("%d", int(s.Signal))
}
