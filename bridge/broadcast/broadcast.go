// Package broadcast runs one program per group of clients (the clients of
// one request path) and shares it among them: every output message fans out
// to all of them, every client message fans in to the one stdin.
package broadcast

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// DefaultClientQueue is how many bytes of output may wait for one client
// before it is closed as too slow (--client-queue).
const DefaultClientQueue = 1 << 20

// DefaultMaxGroups bounds the groups at once (--max-groups): every request
// path is a group, so without a bound clients could open any number.
const DefaultMaxGroups = 10000

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

// Options configure broadcast sessions.
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
	// PTY runs a group's program on a pseudo-terminal (--pty), 80x24 or
	// the first client's ?cols=&rows=, with echo off, TERM=Term.
	PTY  bool
	Term string
	// MaxClients bounds the attached clients over all groups
	// (--max-clients); 0: unlimited.
	MaxClients int
	// MaxGroups bounds the groups open at once (--max-groups), and with
	// Redis the groups the cluster keeps there; 0: unlimited.
	MaxGroups int
	// Observer, if set, is told what groups and clients do, for metrics.
	Observer Observer
	// Redis, if set, spreads each group over every daemon with the same
	// Redis and prefix (--redis): one program in the cluster.
	Redis *cluster.Options
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

// Program is how a group starts its program and accounts for it: the gate's
// slot, registry and settings, captured when the group's first client is
// served.
type Program struct {
	// Start starts the program, first and after each restart, with env
	// added to its environment.
	Start func(env []string) (*process.Process, error)
	// Claim takes the group's --maxforks slot unless one was taken for it
	// before the upgrade; false: none is free.
	Claim func() bool
	// Free gives the slot back once the group's last process is reaped;
	// Ended follows once the group is out of the registry (with --once the
	// daemon then shuts down).
	Free, Ended func()
	// Track puts the group in the daemon's registry, so that Shutdown ends
	// it; false: shutdown has begun and the group goes away at once.
	// Untrack takes it out. Both may be nil.
	Track   func(session.Member) bool
	Untrack func(session.Member)
	// Ping is how often each client is pinged (--pingms); 0: never.
	Ping time.Duration
	// Log is the logger of the client that started the group.
	Log *slog.Logger
}

// ErrBusy is Join's answer when a group would start and no process slot is
// free; the client is closed with 1013.
var ErrBusy = errors.New("no free process slot")

// ErrGroupsFull is Join's answer when a group would start and --max-groups
// are open: the group the client was admitted to ended meanwhile. The
// client is closed with 1013.
var ErrGroupsFull = errors.New("the server has its maximum number of groups")

// ErrRetired is Join's answer when a group would start on an endpoint a
// reload replaced: the client is closed with 1012 and reconnects to the
// endpoint's new settings.
var ErrRetired = errors.New("the endpoint was reconfigured")

// StatusTooSlow closes a client whose queue overflowed. The program's exit
// reaches clients as for pipe sessions (session.EndOfSession).
const StatusTooSlow = websocket.StatusTryAgainLater
