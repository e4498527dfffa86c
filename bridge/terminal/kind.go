// Package terminal runs browser terminals: programs on pseudo-terminals
// speaking wsbridge.tty.v1 to the terminal page, with session tokens and
// reconnects, shared sessions, the screen's state for clients that join or
// come back, flow control, titles and a client limit.
package terminal

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// TTYSubprotocol is the WebSocket subprotocol of terminal endpoints; see
// static/PROTOCOL.md for the protocol.
const TTYSubprotocol = "wsbridge.tty.v1"

// Close codes of terminal endpoints, beside the exit-status codes.
const (
	// StatusUnknownSession: the ?session= token is not (or no longer) a
	// session of this endpoint. The page then starts a new session.
	StatusUnknownSession websocket.StatusCode = 4400
	// StatusTakenOver: another connection resumed this session (a second
	// tab with the same token, or the page reconnecting before the server
	// noticed the old connection was gone).
	StatusTakenOver websocket.StatusCode = 4409
)

// DefaultTerm is TERM for the terminal's program when Options.Term is
// empty: what xterm.js (the terminal page) emulates.
const DefaultTerm = session.DefaultTerm

// Options configure browser terminal endpoints (--terminal). Each
// upgrade speaking wsbridge.tty.v1 runs the program on a pseudo-terminal;
// binary frames carry terminal bytes both ways and text frames JSON control
// messages.
type Options struct {
	// Writable passes the clients' keyboard input to the program
	// (--writable); otherwise it is dropped.
	Writable bool
	// NoTransfer tells the page not to offer file transfers (ZMODEM and
	// trzsz) even to writable clients (--no-transfer). The server cannot
	// tell transfer bytes from other output, so this is the page's switch;
	// the server's own guarantee is that a read-only client's input never
	// reaches the program, which is what stops a watcher's page from ever
	// answering a transfer.
	NoTransfer bool
	// Reconnect keeps a process whose client went away running for this
	// long, for the client to resume with its session token (--reconnect);
	// 0: the process is stopped when its last client leaves.
	Reconnect time.Duration
	// Shared attaches every client of an endpoint to one process (--shared).
	Shared bool
	// MaxClients limits attached clients; beyond it upgrades get 503
	// (--max-clients). 0: unlimited.
	MaxClients int
	// Title, if set, is executed for each client with TitleData and sent as
	// the page title (--title-format).
	Title *template.Template
	// Scrollback is how many lines that scrolled off the top of the screen
	// a client joining or resuming a session gets above the screen, with
	// Reconnect or Shared (--scrollback, DefaultScrollback); 0: none.
	Scrollback int
	// MaxFrameSize limits a client's input frame (--maxframesize); 0:
	// unlimited.
	MaxFrameSize int64
	// Term is TERM for the program (--term); empty: DefaultTerm.
	Term string
}

// TitleData are the fields of Options.Title.
type TitleData struct {
	Command    string // the command line, arguments included
	Hostname   string // the server's host name
	RemoteAddr string // the client's address
}

// Limits of the terminal protocol.
const (
	// maxControlSize bounds a text frame (a JSON control message).
	maxControlSize = 4096
	// sharedQueueLimit is how far a client of a shared session may fall
	// behind the fastest before it is dropped (1013) rather than slowing
	// the others.
	sharedQueueLimit = 1 << 20
	// maxTitle bounds a title from --title-format.
	maxTitle = 1024
)

// Kind is the terminal session kind (session.Kind): its sessions by token
// and, with Shared, by endpoint.
type Kind struct {
	opts     Options
	hostname string
	clients  atomic.Int64 // attached clients, for MaxClients

	// mu orders lookups, attaches and starts: a token lookup and the attach
	// that follows are one step, so a process that ends in between is never
	// attached to. Lock order: Kind.mu, then ttyProc.mu.
	mu      sync.Mutex
	byToken map[string]*ttyProc
	shared  map[string]*ttyProc // by endpoint (Endpoint.ScriptName)
}

// New returns the terminal kind for opts.
func New(opts Options) *Kind {
	host, _ := os.Hostname()
	return &Kind{opts: opts, hostname: host, byToken: map[string]*ttyProc{}, shared: map[string]*ttyProc{}}
}

// resumable reports whether sessions get tokens: a client can come back to
// its process only if the process outlives it (Reconnect) or others keep it
// alive (Shared).
func (t *Kind) resumable() bool { return t.opts.Reconnect > 0 || t.opts.Shared }

// newToken returns a fresh session token: 128 random bits in hex.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// find returns the process a client joins, with t.mu held: the session of
// token, which must belong to path; else with Shared the endpoint's running
// process. nil: none (a new one starts unless a token was given).
func (t *Kind) find(token, path, key string) *ttyProc {
	if token != "" {
		p := t.byToken[token]
		if p == nil || p.path != path || p.stopping.Load() {
			return nil
		}
		return p
	}
	if t.opts.Shared {
		if p := t.shared[key]; p != nil && !p.stopping.Load() {
			return p
		}
	}
	return nil
}

// register makes p findable, with t.mu held.
func (t *Kind) register(p *ttyProc) {
	if p.token != "" {
		t.byToken[p.token] = p
	}
	if t.opts.Shared {
		t.shared[p.key] = p // replaces a stopping one
	}
}

// unregister forgets p once its output has ended.
func (t *Kind) unregister(p *ttyProc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.token != "" && t.byToken[p.token] == p {
		delete(t.byToken, p.token)
	}
	if t.shared[p.key] == p {
		delete(t.shared, p.key)
	}
}

// reserveClient takes a MaxClients slot.
func (t *Kind) reserveClient() bool {
	n := t.clients.Add(1)
	if t.opts.MaxClients > 0 && n > int64(t.opts.MaxClients) {
		t.clients.Add(-1)
		return false
	}
	return true
}

func (t *Kind) releaseClient() { t.clients.Add(-1) }

// Clients is the number of clients attached to terminal sessions.
func (t *Kind) Clients() int { return int(t.clients.Load()) }

// Admit refuses before the upgrade whatever can be refused with an HTTP
// status: a missing subprotocol (400), shutdown (503), --max-clients (503),
// --once (503) and --maxforks (429) when a process would start. A token
// that is not a live session of this path is known only after the lookup:
// Serve accepts the upgrade and closes it with 4400, which the page
// understands.
func (t *Kind) Admit(g session.Gate, r *http.Request, ep session.Endpoint) (*session.Admission, error) {
	if !session.OffersSubprotocol(r, TTYSubprotocol) {
		return nil, &session.Refusal{
			Status:  http.StatusBadRequest,
			Message: "400 Bad Request: this endpoint is a terminal: offer the WebSocket subprotocol " + TTYSubprotocol,
			Reason:  "subprotocol",
			Counted: session.RefusedBadRequest,
		}
	}
	if err := g.CheckOpen(); err != nil {
		return nil, err
	}
	if !t.reserveClient() {
		return nil, session.MaxClientsRefusal(t.opts.MaxClients)
	}
	// A process starts unless the client resumes a session or joins the
	// shared one; take its --once claim and --maxforks slot now, so a
	// refusal is an HTTP status. Serve checks the guess after the upgrade.
	token := r.URL.Query().Get("session")
	var slot session.Slot
	if token == "" {
		t.mu.Lock()
		joins := t.find("", r.URL.Path, ep.ScriptName) != nil
		t.mu.Unlock()
		if !joins {
			var err error
			if slot, err = g.TakeSlot(); err != nil {
				t.releaseClient()
				return nil, err
			}
		}
	}
	return &session.Admission{
		Subprotocols: []string{TTYSubprotocol},
		Protocol:     TTYSubprotocol,
		// The environment is built outside the lock: --reverselookup may
		// take a while.
		Starts:  token == "",
		Slot:    slot,
		Abandon: t.releaseClient,
	}, nil
}

// Serve attaches the client to its session: the one of its token, the
// endpoint's shared one, or a new one.
func (t *Kind) Serve(sc *session.Conn) {
	r, g, conn := sc.Request, sc.Gate, sc.WS
	clientHeld := true
	defer func() {
		if clientHeld {
			t.releaseClient()
		}
	}()
	slot := sc.Slot
	defer func() {
		if slot != nil {
			slot.Release()
		}
	}()

	token := r.URL.Query().Get("session")
	c := newTTYClient(t, g, conn, r)
	c.inflated.On = sc.Compression != session.CompressionOff
	t.mu.Lock()
	p := t.find(token, r.URL.Path, sc.Endpoint.ScriptName)
	switch {
	case p == nil && token != "":
		t.mu.Unlock()
		g.Logger().Log(r.Context(), session.LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "unknown session")
		conn.Close(StatusUnknownSession, "unknown session")
		return
	case p == nil:
		if slot == nil {
			// The shared process ended between the guess and now: a
			// new one needs a slot, and none may be free.
			var err error
			if slot, err = g.TakeSlot(); err != nil {
				t.mu.Unlock()
				reason := err.Error()
				if ref, ok := err.(*session.Refusal); ok {
					reason = ref.Reason
					g.Observer().Refused(ref.Counted)
				}
				g.Logger().Log(r.Context(), session.LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", reason)
				conn.Close(websocket.StatusTryAgainLater, "server busy: no free process slot")
				return
			}
		}
		_, err := t.start(sc, slot, c)
		if err != nil {
			t.mu.Unlock()
			g.Logger().Error("spawn failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			g.Observer().SpawnFailed()
			conn.Close(session.SpawnFailureClose(err))
			return
		}
		slot = nil // the process gives it back when reaped
		t.mu.Unlock()
		clientHeld = false // released when the client detaches
		return
	}
	attached := p.attach(c)
	t.mu.Unlock()
	if !attached {
		// Only a process that stopped after find can refuse, and find
		// saw it running under the same lock: this cannot happen, but
		// a client must never hang.
		conn.Close(websocket.StatusTryAgainLater, "session ending")
		return
	}
	clientHeld = false // released when the client detaches
}
