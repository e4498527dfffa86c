package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/coder/websocket"
)

// TTYSubprotocol is the WebSocket subprotocol of terminal endpoints; see
// static/TERMINAL.md for the protocol.
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

// TerminalOptions configure browser terminal endpoints (--terminal). Each
// upgrade speaking wsbridge.tty.v1 runs the program on a pseudo-terminal;
// binary frames carry terminal bytes both ways and text frames JSON control
// messages.
type TerminalOptions struct {
	// Writable passes the clients' keyboard input to the program
	// (--writable); otherwise it is dropped.
	Writable bool
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
	// Scrollback is how many bytes of output are kept for replay with
	// Reconnect or Shared; 0: DefaultScrollback.
	Scrollback int
}

// TitleData are the fields of TerminalOptions.Title.
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

// ttyState is the terminal side of a Handler: sessions by token and, with
// Shared, by endpoint.
type ttyState struct {
	opts     TerminalOptions
	hostname string
	clients  atomic.Int64 // attached clients, for MaxClients

	// mu orders lookups, attaches and starts: a token lookup and the attach
	// that follows are one step, so a process that ends in between is never
	// attached to. Lock order: ttyState.mu, then ttyProc.mu.
	mu      sync.Mutex
	byToken map[string]*ttyProc
	shared  map[string]*ttyProc // by endpoint (Endpoint.ScriptName)
}

func newTTYState(opts TerminalOptions) *ttyState {
	host, _ := os.Hostname()
	return &ttyState{opts: opts, hostname: host, byToken: map[string]*ttyProc{}, shared: map[string]*ttyProc{}}
}

// resumable reports whether sessions get tokens: a client can come back to
// its process only if the process outlives it (Reconnect) or others keep it
// alive (Shared).
func (t *ttyState) resumable() bool { return t.opts.Reconnect > 0 || t.opts.Shared }

// newToken returns a fresh session token: 128 random bits in hex.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// find returns the process a client joins, with t.mu held: the session of
// token, which must belong to path; else with Shared the endpoint's running
// process. nil: none (a new one starts unless a token was given).
func (t *ttyState) find(token, path, key string) *ttyProc {
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
func (t *ttyState) register(p *ttyProc) {
	if p.token != "" {
		t.byToken[p.token] = p
	}
	if t.opts.Shared {
		t.shared[p.key] = p // replaces a stopping one
	}
}

// unregister forgets p once its output has ended.
func (t *ttyState) unregister(p *ttyProc) {
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
func (t *ttyState) reserveClient() bool {
	n := t.clients.Add(1)
	if t.opts.MaxClients > 0 && n > int64(t.opts.MaxClients) {
		t.clients.Add(-1)
		return false
	}
	return true
}

func (t *ttyState) releaseClient() { t.clients.Add(-1) }

// Clients is the number of clients attached to terminal sessions, or to
// broadcast groups.
func (h *Handler) Clients() int {
	switch {
	case h.tty != nil:
		return int(h.tty.clients.Load())
	case h.bcast != nil:
		return h.bcast.Clients()
	}
	return 0
}

// serveTerminal answers an upgrade on a terminal endpoint. Everything that
// can be refused with an HTTP status is, before the upgrade: a missing
// subprotocol (400), shutdown (503), --max-clients (503), --once (503) and
// --maxforks (429) when a process would start. A token that is not a live
// session of this path is known only after the lookup: the upgrade is
// accepted and closed with 4400, which the page understands.
func (h *Handler) serveTerminal(w http.ResponseWriter, r *http.Request) {
	t := h.tty
	ep, ok := h.endpointOrRefuse(w, r)
	if !ok {
		return
	}
	if !offersTTY(r) {
		h.observer().Refused(RefusedBadRequest)
		h.log.Log(r.Context(), LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "subprotocol")
		http.Error(w, "400 Bad Request: this endpoint is a terminal: offer the WebSocket subprotocol "+TTYSubprotocol, http.StatusBadRequest)
		return
	}
	r = WithEnv(r, "WEBSOCKET_PROTOCOL="+TTYSubprotocol)
	if h.refuseIfClosing(w) {
		return
	}
	if !t.reserveClient() {
		h.observer().Refused(RefusedMaxClients)
		h.log.Log(r.Context(), LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "max-clients")
		w.Header().Set("Retry-After", "5")
		http.Error(w, "503 Service Unavailable: the terminal has its maximum number of clients (--max-clients="+strconv.Itoa(t.opts.MaxClients)+")", http.StatusServiceUnavailable)
		return
	}
	clientHeld := true
	defer func() {
		if clientHeld {
			t.releaseClient()
		}
	}()

	// A process starts unless the client resumes a session or joins the
	// shared one; take its --once claim and --maxforks slot now, so a
	// refusal is an HTTP status. The guess is checked after the upgrade.
	token := r.URL.Query().Get("session")
	key := ep.ScriptName
	var slot forkSlot
	if token == "" {
		t.mu.Lock()
		joins := t.find("", r.URL.Path, key) != nil
		t.mu.Unlock()
		if !joins && !h.takeForkSlot(w, r, &slot) {
			return
		}
	}
	defer slot.release(h)

	var id string
	var env []string
	if token == "" {
		// Computed outside the lock: --reverselookup may take a while.
		id = h.idPrefix + strconv.FormatUint(h.ids.Add(1), 10)
		env = h.environ(r, id, ep)
	}
	hc := &hijackCapture{ResponseWriter: w}
	conn, err := websocket.Accept(hc, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the origin policy ran before (origin.go)
		Subprotocols:       []string{TTYSubprotocol},
	})
	if err != nil {
		h.log.Log(r.Context(), LevelAccess, "handshake failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		h.observer().Refused(RefusedBadRequest)
		return
	}
	conn.SetReadLimit(-1) // the client enforces its own limits (ttyclient.go)

	c := newTTYClient(h, conn, r)
	t.mu.Lock()
	p := t.find(token, r.URL.Path, key)
	switch {
	case p == nil && token != "":
		t.mu.Unlock()
		h.log.Log(r.Context(), LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "unknown session")
		conn.Close(StatusUnknownSession, "unknown session")
		return
	case p == nil:
		if !slot.held && !slot.take(h) {
			// The shared process ended between the guess and now, and
			// no slot is free for a new one.
			t.mu.Unlock()
			conn.Close(websocket.StatusTryAgainLater, "server busy: no free process slot")
			return
		}
		p, err = h.startTTY(r, ep, id, env, c)
		if err != nil {
			t.mu.Unlock()
			h.log.Error("spawn failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			h.observer().SpawnFailed()
			conn.Close(websocket.StatusInternalError, closeReason("%v", err))
			return
		}
		slot.held = false // the process gives it back when reaped
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

// endpointOrRefuse resolves r's endpoint, answering 404 or 500 if there is
// none.
func (h *Handler) endpointOrRefuse(w http.ResponseWriter, r *http.Request) (Endpoint, bool) {
	ep, err := h.resolve(r)
	if err == nil {
		return ep, true
	}
	if errors.Is(err, ErrNoEndpoint) {
		h.observer().Refused(RefusedNotFound)
		http.NotFound(w, r)
	} else {
		h.log.Error("resolve endpoint", "path", r.URL.Path, "err", err)
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
	}
	return ep, false
}

// offersTTY reports whether the client offers the terminal subprotocol. The
// page always does; a client offering nothing would not know the protocol.
func offersTTY(r *http.Request) bool {
	for _, p := range offeredSubprotocols(r) {
		if strings.EqualFold(p, TTYSubprotocol) {
			return true
		}
	}
	return false
}
