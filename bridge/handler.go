// Package bridge is the gate: it turns an HTTP upgrade request into an
// admitted WebSocket connection and hands it to a session kind. It owns
// what every kind shares: endpoint lookup, origin policy, authentication,
// subprotocol negotiation, process slots (--maxforks, --once), the CGI
// environment, the upgrade, the session registry and Shutdown, refusals and
// their logging, and CGI scripts for plain HTTP requests.
package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/fdbudget"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// Options configure a Handler. The zero value of each field is the
// unrestricted or disabled setting.
type Options struct {
	// Kind runs the sessions (pipe.New, terminal.New); nil: no WebSocket
	// endpoint, every upgrade gets 404.
	Kind session.Kind
	// Command is run for every request, unless Resolve is set.
	Command session.Command
	// Resolve picks the endpoint for a request before the upgrade (--dir).
	Resolve func(r *http.Request) (session.Endpoint, error)
	// Dir is the child's working directory; empty: the daemon's.
	Dir string
	// MaxForks limits concurrent children (--maxforks); 0: unlimited.
	MaxForks int
	// CloseGrace is added to each wait of the kill sequence (--closems).
	CloseGrace time.Duration
	// PingInterval sends a ping that often (--pingms); 0: never.
	PingInterval time.Duration
	// PassEnv names the daemon's variables the child inherits (--passenv).
	PassEnv []string
	// ReverseLookup resolves REMOTE_HOST (--reverselookup).
	ReverseLookup bool
	// ServerSoftware is SERVER_SOFTWARE, e.g. "wsbridge/1.0.0".
	ServerSoftware string
	Logger         *slog.Logger
	// Subprotocols are the WebSocket subprotocols spoken (--subprotocol),
	// preferred in this order. The chosen one is the child's
	// WEBSOCKET_PROTOCOL; a client offering only others is refused with 400.
	// A kind with a protocol of its own (the terminal) ignores them.
	Subprotocols []string
	// Observer, if set, is told about sessions and refusals (metrics).
	Observer session.Observer
	// URLArgs appends the request's ?arg= values to argv, in order
	// (--url-arg).
	URLArgs bool
	// Once serves one session (--once): upgrades that would start another
	// process get 503, and OnceDone is closed once its process has ended.
	Once bool
	// CGITimeout bounds a CGI request from its start to its script's end
	// (--cgi-timeout); 0: no bound.
	CGITimeout time.Duration
	// Limits are each session's limits (--msg-rate, --idle-timeout).
	Limits session.Limits
	// Compress offers permessage-deflate to clients that ask for it
	// (--compress); zero: off.
	Compress session.Compression
}

// Handler is the gate of one endpoint: it admits WebSocket upgrades and
// hands them to Options.Kind. The Handlers of one server's endpoints share
// what is server-wide (see Endpoint).
type Handler struct {
	*shared
	opts      Options
	log       *slog.Logger
	parentEnv []string
	live      atomic.Pointer[session.Tunables] // settings changed at run time (tune.go)
}

// shared is what every endpoint of a server counts and tracks together:
// the --maxforks slots, the file-descriptor budget, the session registry
// that Shutdown ends, --once and the session IDs.
type shared struct {
	idPrefix string
	ids      atomic.Uint64
	forks    atomic.Int64
	maxForks atomic.Int64    // --maxforks in force (tune.go)
	fds      fdbudget.Budget // file descriptors, for a reserve (fds.go)
	sessions registry
	once     onceState // --once (once.go)
}

// New returns a Handler for opts, with server-wide state of its own.
func New(opts Options) *Handler {
	sh := &shared{}
	var b [4]byte
	rand.Read(b[:])
	sh.idPrefix = hex.EncodeToString(b[:]) + "-"
	sh.once.init(opts.Once)
	return newHandler(sh, opts)
}

// Endpoint returns a Handler for another endpoint of h's server: its own
// kind, command and session options, sharing h's --maxforks slots, file
// descriptor budget, --once and session registry, so that h.Shutdown ends
// its sessions too. opts.MaxForks and opts.Once are h's.
func (h *Handler) Endpoint(opts Options) *Handler {
	opts.MaxForks, opts.Once = int(h.shared.maxForks.Load()), h.opts.Once
	return newHandler(h.shared, opts)
}

func newHandler(sh *shared, opts Options) *Handler {
	h := &Handler{shared: sh, opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.parentEnv = passEnv(opts.PassEnv)
	h.Tune(session.Tunables{MaxForks: opts.MaxForks, CloseGrace: opts.CloseGrace, PingInterval: opts.PingInterval})
	return h
}

// Retire is for an endpoint a reload replaced, once no request reaches it
// any more: a kind that holds something beyond its sessions (broadcast's
// connection to Redis) gives it back once they have ended. It returns
// then; at once for a kind that holds nothing.
func (h *Handler) Retire() {
	if r, ok := h.opts.Kind.(interface{ Retire() }); ok {
		r.Retire()
	}
}

// Active is the number of children currently counted against --maxforks.
func (h *Handler) Active() int { return int(h.forks.Load()) }

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// ServeHTTP admits an upgrade and hands it to the kind: everything that can
// be refused is refused before the upgrade, with an HTTP status.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !IsUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		h.refuse(w, r, h.log, notAnUpgrade)
		return
	}
	ep, ok := h.endpointOrRefuse(w, r)
	if !ok {
		return
	}
	g := h.gate()
	a, err := h.opts.Kind.Admit(g, r, ep)
	if err != nil {
		h.refuse(w, r, h.log, err)
		return
	}
	r = WithEnv(r, "WEBSOCKET_PROTOCOL="+a.Protocol)
	c := &session.Conn{Request: r, Endpoint: ep, Log: h.log, Slot: a.Slot, Gate: g}
	if a.Starts {
		c.ID = g.NewID()
		c.Log = h.log.With("session", c.ID)
		c.Env = h.environ(r, c.ID, ep)
	}
	subprotocols := a.Subprotocols
	if subprotocols == nil {
		subprotocols = h.opts.Subprotocols
	}
	hc := &hijackCapture{ResponseWriter: w}
	conn, err := websocket.Accept(hc, r, &websocket.AcceptOptions{
		// Origin policy is wsbridge's own (--origin, --sameorigin), applied
		// before this point; coder/websocket's default would refuse every
		// cross-origin client, unlike websocketd.
		InsecureSkipVerify: true,
		Subprotocols:       subprotocols,
		CompressionMode:    compressionMode(h.opts.Compress),
	})
	if err != nil {
		c.Log.Log(r.Context(), session.LevelAccess, "handshake failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		h.observer().Refused(session.RefusedBadRequest)
		if a.Slot != nil {
			a.Slot.Release()
		}
		if a.Abandon != nil {
			a.Abandon()
		}
		return
	}
	// The kinds enforce --maxframesize themselves, so that a message over
	// it never reaches the child in part and the close reason names the
	// flag.
	conn.SetReadLimit(-1)
	c.WS, c.Buffered, c.Cork = conn, hc.br, hc.cork
	armDeadline(hc.gc, c)
	if hc.deflate {
		c.Compression = negotiated(hc.Header().Get("Sec-WebSocket-Extensions"))
	}
	h.opts.Kind.Serve(c)
	// The kinds start their process in Serve: from now on a count of the
	// open file descriptors sees it.
	if s, ok := a.Slot.(*forkSlot); ok {
		s.settle()
	}
}

// resolve picks the endpoint; a single command answers every path with
// websocketd's names for it: the whole path is PATH_INFO.
func (h *Handler) resolve(r *http.Request) (session.Endpoint, error) {
	if h.opts.Kind == nil {
		return session.Endpoint{}, &NoEndpointError{Reason: ReasonNoEndpoint}
	}
	if h.opts.Resolve != nil {
		return h.opts.Resolve(r)
	}
	return session.Endpoint{Command: h.opts.Command, ScriptName: "/", PathInfo: r.URL.Path, PathTranslated: r.URL.Path}, nil
}

// endpointOrRefuse resolves r's endpoint, answering 404 or 500 if there is
// none.
func (h *Handler) endpointOrRefuse(w http.ResponseWriter, r *http.Request) (session.Endpoint, bool) {
	ep, err := h.resolve(r)
	if err == nil {
		return ep, true
	}
	if !errors.Is(err, session.ErrNoEndpoint) {
		h.log.Error("resolve endpoint", "path", r.URL.Path, "err", err)
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return ep, false
	}
	// The client learns only that there is nothing here; the log says why,
	// for the operator who forgot chmod +x.
	ref := &session.Refusal{
		Status:  http.StatusNotFound,
		Message: "404 page not found",
		Reason:  ReasonNotFound,
		Counted: session.RefusedNotFound,
	}
	var why *NoEndpointError
	if errors.As(err, &why) {
		ref.Reason = why.Reason
		if why.Hint != "" {
			ref.Attrs = []any{"hint", why.Hint}
		}
	}
	h.refuse(w, r, h.log, ref)
	return ep, false
}

// RefuseNoEndpoint answers r, on a path that no endpoint of the server
// matches, with 404: logged with its reason and counted as not found, as
// any endpoint's refusal.
func (h *Handler) RefuseNoEndpoint(w http.ResponseWriter, r *http.Request) {
	h.refuse(w, r, h.log, &session.Refusal{
		Status:  http.StatusNotFound,
		Message: "404 page not found",
		Reason:  ReasonNoRoute,
		Counted: session.RefusedNotFound,
	})
}

// notAnUpgrade answers a plain request on an endpoint. It is not logged
// here: in the daemon the router logs every plain request with its status.
var notAnUpgrade = &session.Refusal{
	Status:  http.StatusUpgradeRequired,
	Message: "426 Upgrade Required: this endpoint speaks WebSocket; connect with a WebSocket client",
	Counted: session.RefusedBadRequest,
}

// refuse answers r with the refusal err (a *session.Refusal from a kind or
// the gate), logging to log and counting it as the refusal says. Every
// refusal of an upgrade by the gate or a kind goes through here, so each is
// logged once at access level with its reason (origin and authentication,
// refused in front of the Handler, log their own).
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ref *session.Refusal
	if !errors.As(err, &ref) {
		h.log.Error("admit", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	if ref.Counted != "" {
		h.observer().Refused(ref.Counted)
	}
	if ref.Reason != "" {
		attrs := append([]any{"remote", r.RemoteAddr, "path", r.URL.Path, "reason", ref.Reason}, ref.Attrs...)
		log.Log(r.Context(), session.LevelAccess, "refused", attrs...)
	}
	if ref.RetryAfter != "" {
		w.Header().Set("Retry-After", ref.RetryAfter)
	}
	http.Error(w, ref.Message, ref.Status)
}
