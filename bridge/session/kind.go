package session

import (
	"bufio"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/process"
)

// Kind runs the sessions of one kind of endpoint: a pipe per connection, a
// browser terminal, a program shared by many clients. The gate admits a
// request (endpoint, origin, authentication), asks the kind's Admit whether
// it may be upgraded, upgrades it and hands the connection to Serve. A new
// kind is one more package implementing Kind; the gate does not change.
type Kind interface {
	// Admit runs before the upgrade, so that whatever the kind refuses
	// is answered with an HTTP status: a missing subprotocol, shutdown
	// (Gate.CheckOpen), a full endpoint, no free process slot
	// (Gate.TakeSlot). A refusal is returned as a *Refusal, which the gate
	// logs, counts and answers. Admit must not block for long.
	Admit(g Gate, r *http.Request, ep Endpoint) (*Admission, error)
	// Serve takes over an upgraded connection, and what the Admission
	// holds. It returns once the session runs on goroutines of its own,
	// which it registers with Gate.Track so that Shutdown can end them and
	// waits for them.
	Serve(c *Conn)
}

// Admission is what Admit agreed to.
type Admission struct {
	// Subprotocols are offered to the client in the handshake, preferred
	// first; nil: the gate's --subprotocol list.
	Subprotocols []string
	// Protocol is the subprotocol chosen, the program's
	// WEBSOCKET_PROTOCOL.
	Protocol string
	// Starts says a program may start for this connection alone: the gate
	// gives the connection a session ID and builds its environment (which
	// may take a reverse lookup) before the upgrade.
	Starts bool
	// Slot is a process slot Admit took, or nil. If the upgrade fails the
	// gate releases it; otherwise it goes to Conn.Slot.
	Slot Slot
	// Abandon, if set, undoes the rest of the admission (a client count)
	// when the upgrade fails.
	Abandon func()
}

// Conn is an upgraded connection handed to a kind, with everything the
// gate learned about it.
type Conn struct {
	WS *websocket.Conn
	// Buffered is the reader coder/websocket reads the connection
	// through, to see whether the next message has arrived already
	// (frame.NextMessageBuffered); Cork is under its writer. Both are nil
	// if the connection could not be hijacked.
	Buffered *bufio.Reader
	Cork     *frame.CorkWriter
	// Compression is the permessage-deflate the client and --compress
	// agreed on; CompressionOff if none.
	Compression Compression

	Request  *http.Request // the upgrade request; its body and writer are gone
	Endpoint Endpoint
	// ID is the session ID (UNIQUE_ID) and Env the program's environment,
	// both set when the Admission Starts.
	ID  string
	Env []string
	Log *slog.Logger // the gate's logger, with the session ID if any
	// Slot is the Admission's, now the kind's to release or keep.
	Slot Slot
	Gate Gate
}

// Program is how to start the connection's program: its argv, with ?arg=
// values under --url-arg, Env, the working directory and the kill
// sequence's grace.
func (c *Conn) Program() process.Config { return c.Gate.Program(c.Request, c.Endpoint, c.Env) }

// Gate is what the gate offers the kinds, shared by all their sessions.
type Gate interface {
	// Logger is the server's logger.
	Logger() *slog.Logger
	// Observer is told about sessions and refusals (metrics); never nil.
	Observer() Observer
	// Tunables are the settings in force now: a session reads them when it
	// starts.
	Tunables() Tunables
	// Limits are the endpoint's per-session limits (--msg-rate,
	// --idle-timeout).
	Limits() Limits
	// Subprotocol picks the --subprotocol the client offers; a client
	// offering only unknown ones gets a *Refusal (400).
	Subprotocol(r *http.Request) (string, error)
	// CheckOpen returns a *Refusal (503) once Shutdown has begun.
	CheckOpen() error
	// TakeSlot takes the --once claim and a --maxforks slot for a process
	// about to start, or returns a *Refusal (503 or 429) and nil.
	TakeSlot() (Slot, error)
	// NewID returns a fresh session ID.
	NewID() string
	// Env is a connection's full environment: --passenv, the server's,
	// the request's and the client's CGI variables and HTTP_* headers.
	Env(r *http.Request, id string, ep Endpoint) []string
	// ServerEnv is the part of Env that does not depend on the client:
	// --passenv, SERVER_*, GATEWAY_INTERFACE, SCRIPT_NAME, PATH_INFO and
	// PATH_TRANSLATED, for a program that serves many clients.
	ServerEnv(r *http.Request, ep Endpoint) []string
	// Program is how to start ep's program for r with env (see
	// Conn.Program).
	Program(r *http.Request, ep Endpoint, env []string) process.Config
	// Track registers a running session so that Shutdown ends it and waits
	// for it; false: shutdown has begun, and m has been told to go away.
	// Either way the session runs and calls Untrack when it is over.
	Track(m Member) bool
	Untrack(m Member)
}

// Member is what Shutdown can end: a session, or a process with its
// clients.
type Member interface {
	// GoAway starts the kill sequence; the clients are closed with 1001
	// once the output is delivered.
	GoAway()
	// ForceClose kills at once and drops the connections.
	ForceClose()
}

// Slot is a --maxforks slot with the --once claim, held by one process from
// before it starts until it is reaped.
type Slot interface {
	// Release gives back a slot no process took over: the next client may
	// have it, and with --once the one session.
	Release()
	// Free gives back the slot of a process that has been reaped.
	Free()
	// Ended says the session that held the slot is over; with --once the
	// server then shuts down. Call it after Untrack.
	Ended()
}

// Tunables are the settings that may change while sessions run (wsbridge
// reloads them on SIGHUP). A change applies to what starts afterwards: the
// --maxforks limit to the next upgrade, CloseGrace and PingInterval to
// sessions that start later; running sessions keep what they started with.
type Tunables struct {
	MaxForks     int
	CloseGrace   time.Duration
	PingInterval time.Duration
}

// Refusal answers a request with an HTTP status instead of an upgrade.
type Refusal struct {
	Status  int    // the HTTP status
	Message string // the body, which starts with the status
	// Reason is logged as the refusal's reason at LevelAccess; "": not
	// logged. Attrs are logged with it.
	Reason string
	Attrs  []any
	// Counted is the Observer.Refused reason (a Refused* constant); "":
	// not counted.
	Counted    string
	RetryAfter string // the Retry-After header, if any
}

func (r *Refusal) Error() string { return r.Message }

// MaxClientsRefusal answers a client over --max-clients (limit): 503, try
// again in a few seconds.
func MaxClientsRefusal(limit int) *Refusal {
	return &Refusal{
		Status:     http.StatusServiceUnavailable,
		Message:    "503 Service Unavailable: the server has its maximum number of clients (--max-clients=" + strconv.Itoa(limit) + ")",
		Reason:     "max-clients",
		Counted:    RefusedMaxClients,
		RetryAfter: "5",
	}
}

// OffersSubprotocol reports whether the client offers name in
// Sec-WebSocket-Protocol.
func OffersSubprotocol(r *http.Request, name string) bool {
	for _, p := range OfferedSubprotocols(r) {
		if strings.EqualFold(p, name) {
			return true
		}
	}
	return false
}

// OfferedSubprotocols lists the subprotocols a client offers in
// Sec-WebSocket-Protocol, in its order.
func OfferedSubprotocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// Compression is permessage-deflate (RFC 7692): as --compress offers it, or
// as a connection negotiated it.
type Compression int

const (
	// CompressionOff: no compression.
	CompressionOff Compression = iota
	// CompressionNoContextTakeover compresses each message on its own:
	// no memory is kept between messages, and a broadcast message's
	// compressed frame is the same for every client.
	CompressionNoContextTakeover
	// CompressionContextTakeover compresses each message with the
	// previous ones as its dictionary: better ratios, for a compressor's
	// state kept per connection.
	CompressionContextTakeover
)
