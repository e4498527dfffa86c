// Package broadcast runs one program per group of clients (the clients of
// one request path) and shares it among them: every output message fans out
// to all of them, every client message fans in to the one stdin.
package broadcast

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/process"
)

// DefaultClientQueue is how many bytes of output may wait for one client
// before it is closed as too slow (--client-queue).
const DefaultClientQueue = 1 << 20

// Restart says when a group's program is started again after it ends
// (--restart).
type Restart string

const (
	RestartNever     Restart = "never"      // the group ends with the program
	RestartOnFailure Restart = "on-failure" // again after a non-zero exit or a signal
	RestartAlways    Restart = "always"     // again after any exit
)

// ParseRestart checks a --restart value.
func ParseRestart(s string) (Restart, error) {
	switch r := Restart(s); r {
	case RestartNever, RestartOnFailure, RestartAlways:
		return r, nil
	case "":
		return RestartNever, nil
	}
	return "", fmt.Errorf("want never, on-failure or always, not %q", s)
}

// Backoff of restarts: the first waits restartMin, each next one twice as
// long up to restartMax; a program that ran restartReset or longer starts the
// count over.
const (
	restartMin   = 100 * time.Millisecond
	restartMax   = 10 * time.Second
	restartReset = 10 * time.Second
)

// Options configure a Hub.
type Options struct {
	// Binary passes raw bytes both ways (--binary); otherwise lines of
	// UTF-8 text.
	Binary bool
	// MaxFrameSize limits a client message and cuts long output lines
	// (--maxframesize); 0: no limit but ClientQueue.
	MaxFrameSize int64
	// Replay is how many of the last output messages a joining client gets
	// first (--replay).
	Replay int
	// Linger keeps a group's program running this long after its last
	// client left (--linger).
	Linger time.Duration
	// ClientQueue bounds the output waiting for one client, in bytes
	// (--client-queue); 0: DefaultClientQueue.
	ClientQueue int
	// Restart says whether an ended program is started again (--restart).
	Restart Restart
	// Envelope speaks JSON envelopes with the program (--envelope): client
	// IDs, addressed output, join and leave events. Text mode only.
	Envelope bool
	// MaxClients bounds the attached clients over all groups
	// (--max-clients); 0: unlimited.
	MaxClients int
	// PingInterval returns how often to ping each client (--pingms); 0:
	// never. Read at each group start, as it may change at run time.
	PingInterval func() time.Duration
	// Framing is the shared stream framing (see Framing).
	Framing Framing
	Logger  *slog.Logger
	// Observer, if set, is told what happens, for metrics.
	Observer Observer
	// Track registers a group with the daemon's session registry; false:
	// shutdown has begun and the group must go away at once. Untrack
	// removes it once it has ended. Both may be nil.
	Track   func(Group) bool
	Untrack func(Group)
}

// Framing is the low-level framing pipe sessions use too, lent by the gate,
// so the daemon cuts lines and cleans text in one place.
type Framing interface {
	// NewStream reads f in chunks and cuts it into lines (text) or chunks
	// (binary) of at most maxMsg bytes.
	NewStream(f *os.File, binary bool, maxMsg int) (Stream, error)
	// AppendValidUTF8 appends p with invalid bytes replaced by U+FFFD.
	AppendValidUTF8(dst, p []byte) []byte
	// AppendJSONText appends p as the inside of a JSON string.
	AppendJSONText(dst, p []byte) []byte
}

// Stream is a program's output cut into messages.
type Stream interface {
	// Fill waits for output and reads it; io.EOF at the end.
	Fill() error
	// Next returns the next piece read; end: it completes a message; ok:
	// there was one.
	Next() (piece []byte, end, ok bool)
	// Release gives the buffer back.
	Release()
}

// Observer is told what groups and clients do. Its methods are called from
// many goroutines and must not block.
type Observer interface {
	GroupStarted()
	GroupEnded()
	ClientAttached()
	ClientDetached()
	// SlowClosed: a client's queue overflowed and it was closed with 1013.
	SlowClosed()
	// Restarted: a group's program was started again.
	Restarted()
	// Messages counts client messages into stdin (in), output messages
	// (out) and output messages handed to clients (delivered).
	Messages(in, out, delivered int64)
}

type nopObserver struct{}

func (nopObserver) GroupStarted()                {}
func (nopObserver) GroupEnded()                  {}
func (nopObserver) ClientAttached()              {}
func (nopObserver) ClientDetached()              {}
func (nopObserver) SlowClosed()                  {}
func (nopObserver) Restarted()                   {}
func (nopObserver) Messages(int64, int64, int64) {}

// Group is what the daemon's registry ends at shutdown.
type Group interface {
	// GoAway stops the program with the kill sequence; the clients get
	// 1001 once its output is delivered.
	GoAway()
	// ForceClose kills the program and drops the connections.
	ForceClose()
}

// Program is how the gate starts a group's program and accounts for it.
type Program struct {
	// Start starts the program, first and after each restart.
	Start func() (*process.Process, error)
	// Claim takes the group's --maxforks slot unless one was taken for it
	// before the upgrade; false: none is free.
	Claim func() bool
	// Release gives the slot back once the group's last process is reaped.
	Release func()
}

// ErrBusy is Join's answer when a group would start and no process slot is
// free; the client is closed with 1013.
var ErrBusy = errors.New("no free process slot")

// Close codes, beside the exit-status ones (StatusExitBase + N).
const (
	StatusExitBase = websocket.StatusCode(4000)
	// StatusTooSlow closes a client whose queue overflowed.
	StatusTooSlow = websocket.StatusTryAgainLater
)
