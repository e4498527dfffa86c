package bridge

import "github.com/wsbridge/wsbridge/bridge/session"

// The contract's names the daemon uses, under the gate's name as before.
type (
	Command  = session.Command
	Endpoint = session.Endpoint
	Observer = session.Observer
	Tunables = session.Tunables
)

// ErrNoEndpoint from Options.Resolve answers the request with 404.
var ErrNoEndpoint = session.ErrNoEndpoint

// StatusExitBase + N is the close code that reports exit status N (1-255).
const StatusExitBase = session.StatusExitBase

// Reasons passed to Observer.Refused (session.Refused*).
const (
	RefusedOrigin       = session.RefusedOrigin
	RefusedAuth         = session.RefusedAuth
	RefusedMaxForks     = session.RefusedMaxForks
	RefusedNotFound     = session.RefusedNotFound
	RefusedBadRequest   = session.RefusedBadRequest
	RefusedShuttingDown = session.RefusedShuttingDown
	RefusedMaxClients   = session.RefusedMaxClients
)

// RefusalReasons lists every reason Observer.Refused is given.
var RefusalReasons = session.RefusalReasons

// websocketd's log levels (session.Level*).
const (
	LevelDebug  = session.LevelDebug
	LevelTrace  = session.LevelTrace
	LevelAccess = session.LevelAccess
	LevelInfo   = session.LevelInfo
	LevelError  = session.LevelError
	LevelFatal  = session.LevelFatal
)

// LevelNames maps each level to the name websocketd uses for it.
var LevelNames = session.LevelNames
