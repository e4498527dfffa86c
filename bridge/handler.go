// Package bridge turns an HTTP request into a WebSocket session with a child
// process and pumps frames between the two.
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/process"
)

// Command is the program each session runs.
type Command struct {
	Path string   // resolved executable
	Args []string // argv, Args[0] included
}

// Endpoint is what one request runs, and the CGI names for it.
type Endpoint struct {
	Command Command
	// ScriptName, PathInfo and PathTranslated become the variables of the
	// same names.
	ScriptName, PathInfo, PathTranslated string
}

// ErrNoEndpoint from Options.Resolve answers the request with 404.
var ErrNoEndpoint = errors.New("no such endpoint")

// Options configure a Handler. The zero value of each field is the
// unrestricted or disabled setting.
type Options struct {
	// Command is run for every request, unless Resolve is set.
	Command Command
	// Resolve picks the endpoint for a request before the upgrade (--dir).
	Resolve func(r *http.Request) (Endpoint, error)
	// Dir is the child's working directory; empty: the daemon's.
	Dir string
	// Binary sends raw bytes both ways instead of lines (--binary).
	Binary bool
	// PassStderr sends stdout and stderr lines as JSON (--passstderr).
	PassStderr bool
	// MaxFrameSize limits a client message, and cuts long output lines into
	// messages of at most this size (--maxframesize); 0: unlimited.
	MaxFrameSize int64
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
	Subprotocols []string
	// Observer, if set, is told about sessions and refusals (metrics).
	Observer Observer

	// PTY runs the program on a pseudo-terminal instead of pipes (--pty),
	// sized by the request's ?cols=&rows= (default 80x24), with echo off.
	// The program sees a terminal, so it line-buffers its output; stderr
	// is merged into stdout.
	PTY bool
	// Term is TERM for a program on a pseudo-terminal (--term); empty:
	// DefaultTerm.
	Term string
	// URLArgs appends the request's ?arg= values to argv, in order
	// (--url-arg).
	URLArgs bool
	// Once serves one session (--once): upgrades that would start another
	// process get 503, and OnceDone is closed once its process has ended.
	Once bool
	// Terminal, if set, makes every endpoint a browser terminal speaking
	// wsbridge.tty.v1 (--terminal and its options); PTY is then implied and
	// Binary, PassStderr and Subprotocols are not used.
	Terminal *TerminalOptions
	// Broadcast, if set, shares one program among the clients of each
	// request path (--broadcast and its options); Binary, MaxFrameSize and
	// --pingms apply, and the kind's Framing, Track and Logger are the
	// gate's.
	Broadcast *broadcast.Options
}

// Handler serves WebSocket sessions: one child per accepted connection.
type Handler struct {
	opts      Options
	log       *slog.Logger
	parentEnv []string
	idPrefix  string
	ids       atomic.Uint64
	forks     atomic.Int64
	sessions  registry
	live      atomic.Pointer[Tunables] // settings changed at run time (tune.go)
	once      onceState                // --once (once.go)
	tty       *ttyState                // --terminal sessions and tokens (terminal.go)
	bcast     *broadcast.Hub           // --broadcast groups (broadcast_gate.go)

	bcastMaxClients int
}

// New returns a Handler for opts.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.parentEnv = passEnv(opts.PassEnv)
	h.Tune(Tunables{MaxForks: opts.MaxForks, CloseGrace: opts.CloseGrace, PingInterval: opts.PingInterval})
	var b [4]byte
	rand.Read(b[:])
	h.idPrefix = hex.EncodeToString(b[:]) + "-"
	h.once.init(opts.Once)
	if opts.Terminal != nil {
		h.tty = newTTYState(*opts.Terminal)
	}
	if opts.Broadcast != nil {
		h.bcast = h.newBroadcastHub(*opts.Broadcast)
		h.bcastMaxClients = opts.Broadcast.MaxClients
	}
	return h
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

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !IsUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		h.observer().Refused(RefusedBadRequest)
		http.Error(w, "426 Upgrade Required: this endpoint speaks WebSocket; connect with a WebSocket client", http.StatusUpgradeRequired)
		return
	}
	if h.tty != nil {
		h.serveTerminal(w, r)
		return
	}
	if h.bcast != nil {
		h.serveBroadcast(w, r)
		return
	}
	ep, err := h.resolve(r)
	if err != nil {
		if errors.Is(err, ErrNoEndpoint) {
			h.observer().Refused(RefusedNotFound)
			http.NotFound(w, r)
		} else {
			h.log.Error("resolve endpoint", "path", r.URL.Path, "err", err)
			http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		}
		return
	}
	proto, ok := h.subprotocol(r)
	if !ok {
		h.refuseSubprotocol(w, r)
		return
	}
	r = WithEnv(r, "WEBSOCKET_PROTOCOL="+proto)
	if h.refuseIfClosing(w) {
		return
	}
	id := h.idPrefix + strconv.FormatUint(h.ids.Add(1), 10)
	log := h.log.With("session", id)
	// The slot is taken before the upgrade so a refused client learns it
	// from the status line, and is given back when the child is reaped.
	var slot forkSlot
	if !h.takeForkSlot(w, r, &slot) {
		return
	}

	env := h.environ(r, id, ep)
	hc := &hijackCapture{ResponseWriter: w}
	conn, err := websocket.Accept(hc, r, &websocket.AcceptOptions{
		// Origin policy is wsbridge's own (--origin, --sameorigin), applied
		// before this point; coder/websocket's default would refuse every
		// cross-origin client, unlike websocketd.
		InsecureSkipVerify: true,
		Subprotocols:       h.opts.Subprotocols,
	})
	if err != nil {
		log.Log(r.Context(), LevelAccess, "handshake failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		h.observer().Refused(RefusedBadRequest)
		slot.release(h)
		return
	}
	// The input pump enforces --maxframesize itself, so that a message
	// over it never reaches the child in part and the close reason names
	// the flag.
	conn.SetReadLimit(-1)

	start := time.Now()
	proc, err := process.Start(h.spawnConfig(r, ep, env))
	if err != nil {
		log.Error("spawn failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		h.observer().SpawnFailed()
		conn.Close(websocket.StatusInternalError, closeReason("%v", err))
		h.forks.Add(-1)
		h.once.ended()
		return
	}
	log = log.With("pid", proc.Pid)
	log.Log(r.Context(), LevelAccess, "connect", "remote", r.RemoteAddr, "path", r.URL.Path)
	h.observer().SessionStarted()

	s := &session{
		h: h, id: id, log: log, conn: conn, br: hc.br, cork: hc.cork, proc: proc,
		stdin: stdinWriter{f: proc.Stdin},
		out:   emitter{conn: conn, typ: websocket.MessageText},
		errs:  emitter{conn: conn, typ: websocket.MessageText, stream: "stderr"},
	}
	if h.opts.Binary {
		s.out.typ = websocket.MessageBinary
	}
	if h.opts.PassStderr {
		s.out.stream = "stdout"
	}
	remote, path := r.RemoteAddr, r.URL.Path
	if !h.sessions.add(s) {
		s.goAway()
	}
	// The session runs on a goroutine of its own, owned by the registry,
	// so the HTTP server's connection goroutine, its deep stack and the
	// request can go: an idle session keeps only what it uses.
	go func() {
		// The slot goes back as soon as the child is reaped, before the
		// disconnect is logged (whoever reads the log may connect again)
		// and before the registry lets Shutdown return; --once shuts down
		// only after that.
		defer h.once.ended()
		defer h.sessions.remove(s)
		st := s.run()
		h.forks.Add(-1)
		h.sessionEnded(s, time.Since(start))
		attrs := []any{
			"remote", remote, "path", path,
			"exit", st.String(), "duration_ms", time.Since(start).Milliseconds(),
			"bytes_in", s.bytesIn, "bytes_out", s.out.bytes + s.errs.bytes,
			"msgs_in", s.msgsIn, "msgs_out", s.out.msgs + s.errs.msgs,
		}
		if s.clientClose != nil {
			attrs = append(attrs, "client", clientCloseText(s.clientClose))
		}
		log.Log(context.Background(), LevelAccess, "disconnect", attrs...)
	}()
}

// resolve picks the endpoint; a single command answers every path with
// websocketd's names for it: the whole path is PATH_INFO.
func (h *Handler) resolve(r *http.Request) (Endpoint, error) {
	if h.opts.Resolve != nil {
		return h.opts.Resolve(r)
	}
	return Endpoint{Command: h.opts.Command, ScriptName: "/", PathInfo: r.URL.Path, PathTranslated: r.URL.Path}, nil
}

// clientCloseText describes how the client side ended, for the access log.
func clientCloseText(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return "close " + strconv.Itoa(int(code))
	}
	return err.Error()
}
