package bridge

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/process"
)

// The gate's side of broadcast sessions (--broadcast): admission before the
// upgrade, then the connection goes to the broadcast kind, which shares one
// program among the clients of a request path.

// newBroadcastHub builds the kind from opts, lending it the gate's framing,
// --pingms and the session registry.
func (h *Handler) newBroadcastHub(opts broadcast.Options) *broadcast.Hub {
	opts.Binary = h.opts.Binary
	opts.MaxFrameSize = h.opts.MaxFrameSize
	opts.PingInterval = h.pingInterval
	opts.Framing = sharedFraming{}
	opts.Logger = h.log
	opts.Track = func(g broadcast.Group) bool { return h.sessions.add(trackedGroup{g}) }
	opts.Untrack = func(g broadcast.Group) { h.sessions.remove(trackedGroup{g}) }
	return broadcast.New(opts)
}

// serveBroadcast answers an upgrade on a broadcast endpoint. What can be
// refused with an HTTP status is, before the upgrade: no endpoint (404), a
// subprotocol (400), shutdown (503), --max-clients (503), and --once (503)
// or --maxforks (429) when the client would start its group's program.
func (h *Handler) serveBroadcast(w http.ResponseWriter, r *http.Request) {
	hub := h.bcast
	ep, ok := h.endpointOrRefuse(w, r)
	if !ok {
		return
	}
	if _, ok := h.subprotocol(r); !ok {
		h.refuseSubprotocol(w, r)
		return
	}
	if h.refuseIfClosing(w) {
		return
	}
	if !hub.ReserveClient() {
		h.observer().Refused(RefusedMaxClients)
		h.log.Log(r.Context(), LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "max-clients")
		w.Header().Set("Retry-After", "5")
		http.Error(w, "503 Service Unavailable: the server has its maximum number of clients (--max-clients="+strconv.Itoa(h.bcastMaxClients)+")", http.StatusServiceUnavailable)
		return
	}
	reserved := true
	defer func() {
		if reserved {
			hub.ReleaseClient()
		}
	}()
	// One group per script and PATH_INFO; with a single COMMAND, per path.
	key := strings.TrimSuffix(ep.ScriptName, "/") + ep.PathInfo
	var slot forkSlot
	if !hub.Running(key) && !h.takeForkSlot(w, r, &slot) {
		return
	}
	defer slot.release(h)

	id := h.idPrefix + strconv.FormatUint(h.ids.Add(1), 10)
	clientEnv := h.environ(r, id, ep)
	cfg := h.spawnConfig(r, ep, serverEnv(clientEnv))
	hc := &hijackCapture{ResponseWriter: w}
	conn, err := websocket.Accept(hc, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the origin policy ran before (origin.go)
		Subprotocols:       h.opts.Subprotocols,
	})
	if err != nil {
		h.log.Log(r.Context(), LevelAccess, "handshake failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		h.observer().Refused(RefusedBadRequest)
		return
	}
	conn.SetReadLimit(-1) // the kind enforces --maxframesize with its own reason

	info := clientInfo(id, r, clientEnv)
	c := broadcast.NewClient(conn, hc.cork, info)
	log := h.log.With("session", id)
	prog := broadcast.Program{
		Start: func() (*process.Process, error) {
			proc, err := process.Start(cfg)
			if err != nil {
				h.observer().SpawnFailed()
			}
			return proc, err
		},
		Claim: func() bool {
			if slot.held {
				slot.held = false // the group gives it back (Release)
				return true
			}
			var s forkSlot
			return s.take(h)
		},
		Release: func() {
			h.forks.Add(-1)
			h.once.ended()
		},
	}
	started, err := hub.Join(key, c, prog, log)
	switch {
	case errors.Is(err, broadcast.ErrBusy):
		conn.Close(websocket.StatusTryAgainLater, "server busy: no free process slot")
		return
	case err != nil:
		log.Error("spawn failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		conn.Close(websocket.StatusInternalError, closeReason("%v", err))
		return
	}
	reserved = false // the kind gives it back when the client leaves
	log.Log(r.Context(), LevelAccess, "connect", "remote", r.RemoteAddr, "path", r.URL.Path, "broadcast", true, "started", started)
}

// serverEnv keeps the server-level variables of a client's environment for
// the program its group shares: --passenv, SERVER_*, GATEWAY_INTERFACE,
// SCRIPT_NAME, PATH_INFO, PATH_TRANSLATED and HTTPS. What belongs to one
// client (REMOTE_*, HTTP_*, QUERY_STRING, UNIQUE_ID...) reaches the program
// in join events instead.
func serverEnv(clientEnv []string) []string {
	perClient := []string{"REMOTE_", "HTTP_", "QUERY_STRING=", "UNIQUE_ID=", "AUTH_TYPE=", "REQUEST_", "WEBSOCKET_"}
	env := make([]string, 0, len(clientEnv))
outer:
	for _, kv := range clientEnv {
		for _, p := range perClient {
			if strings.HasPrefix(kv, p) {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return env
}

// clientInfo is what the program learns of a client in its join event,
// from the same variables a pipe session's program would see.
func clientInfo(id string, r *http.Request, env []string) broadcast.ClientInfo {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_USER", "QUERY_STRING":
			vars[k] = v
		}
	}
	remote := vars["REMOTE_ADDR"]
	if vars["REMOTE_PORT"] != "" {
		remote = joinHostPort(remote, vars["REMOTE_PORT"])
	}
	return broadcast.ClientInfo{ID: id, Remote: remote, Path: r.URL.Path, Query: vars["QUERY_STRING"], User: vars["REMOTE_USER"]}
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// trackedGroup puts a broadcast group in the session registry.
type trackedGroup struct{ g broadcast.Group }

func (t trackedGroup) goAway()     { t.g.GoAway() }
func (t trackedGroup) forceClose() { t.g.ForceClose() }

// sharedFraming lends the kind the framing of pipe sessions.
type sharedFraming struct{}

func (sharedFraming) NewStream(f *os.File, binary bool, maxMsg int) (broadcast.Stream, error) {
	sr, err := newStreamReader(f, binary, maxMsg)
	if err != nil {
		return nil, err
	}
	return streamAdapter{sr}, nil
}

func (sharedFraming) AppendValidUTF8(dst, p []byte) []byte { return appendValidUTF8(dst, p) }
func (sharedFraming) AppendJSONText(dst, p []byte) []byte  { return appendJSONText(dst, p) }

type streamAdapter struct{ sr *streamReader }

func (a streamAdapter) Fill() error                { return a.sr.fill() }
func (a streamAdapter) Next() ([]byte, bool, bool) { return a.sr.next() }
func (a streamAdapter) Release()                   { a.sr.release() }
