package session

import (
	"time"

	"github.com/coder/websocket"
)

// Observer is told what happens to sessions, for metrics. It is called from
// many goroutines at once; its methods must be safe for concurrent use and
// must not block.
type Observer interface {
	// SessionStarted: a child is running for an accepted connection.
	SessionStarted()
	// SessionEnded: the session is over. code is the close code sent to
	// the client; the counts are client messages and bytes into the child's
	// stdin (in) and messages and bytes sent to the client (out).
	SessionEnded(code websocket.StatusCode, d time.Duration, bytesIn, bytesOut, msgsIn, msgsOut int64)
	// Refused: a request was answered without a session; reason is one of
	// the Refused* constants.
	Refused(reason string)
	// SpawnFailed: the upgrade succeeded but the child could not start.
	SpawnFailed()
	// MessageDropped: a client message was read and thrown away; reason is
	// one of the Dropped* constants.
	MessageDropped(reason string)
}

// Reasons passed to Observer.Refused.
const (
	RefusedOrigin       = "origin"        // --origin / --sameorigin said no (403)
	RefusedAuth         = "auth"          // authentication failed (401)
	RefusedMaxForks     = "maxforks"      // --maxforks reached (429)
	RefusedNotFound     = "not_found"     // no endpoint for the path (404)
	RefusedBadRequest   = "bad_request"   // not a WebSocket upgrade, or a failed handshake
	RefusedShuttingDown = "shutting_down" // the server is shutting down (503)
	RefusedMaxClients   = "max_clients"   // --max-clients reached (503)
	RefusedToken        = "token"         // no or wrong access token of a writable terminal (403)
	RefusedFDs          = "fds"           // file descriptors short: a process would eat the reserve (503)
	RefusedMaxGroups    = "max_groups"    // --max-groups reached (503)
	// RefusedHost: the Host header is not a name this server goes by
	// (DNS rebinding; --allowed-host) (403).
	RefusedHost = "host"
	// RefusedPerIP: the client address holds --max-conns-per-ip
	// connections or sessions already (429).
	RefusedPerIP = "per_ip"
	// RefusedConnRate: the client address opens sessions faster than
	// --conn-rate (429).
	RefusedConnRate = "conn_rate"
)

// RefusalReasons lists every reason Observer.Refused is given, so a metrics
// exporter can show each at zero before it first happens.
var RefusalReasons = []string{
	RefusedOrigin, RefusedAuth, RefusedMaxForks, RefusedNotFound, RefusedBadRequest, RefusedShuttingDown,
	RefusedMaxClients, RefusedToken, RefusedFDs,
	RefusedHost, RefusedMaxGroups, RefusedPerIP, RefusedConnRate,
}
