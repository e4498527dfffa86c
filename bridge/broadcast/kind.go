package broadcast

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast/envelope"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// Kind is the broadcast session kind (session.Kind): the groups of the
// daemon, one per request path.
type Kind struct{ hub *Hub }

// New returns the broadcast kind for opts.
func New(opts Options) *Kind { return &Kind{hub: NewHub(opts)} }

// Retire is for an endpoint a reload replaced: no group starts here any
// more, and once the last one has ended, the connection to Redis (with
// --redis) is closed. It returns then.
func (k *Kind) Retire() { k.hub.Retire() }

// Clients is the number of clients attached to groups.
func (k *Kind) Clients() int { return k.hub.Clients() }

// groupKey names the group of an endpoint: one per script and PATH_INFO
// (--dir), or with a single COMMAND one per request path.
func groupKey(ep session.Endpoint) string {
	return strings.TrimSuffix(ep.ScriptName, "/") + ep.PathInfo
}

// Admit refuses before the upgrade what can be refused with an HTTP status:
// a subprotocol (400), shutdown (503), --max-clients (503), and when the
// client would start its group's program, --max-groups (503), --once (503)
// or --maxforks (429).
func (k *Kind) Admit(g session.Gate, r *http.Request, ep session.Endpoint) (*session.Admission, error) {
	proto, protos, err := k.subprotocol(g, r)
	if err != nil {
		return nil, err
	}
	if err := g.CheckOpen(); err != nil {
		return nil, err
	}
	if !k.hub.ReserveClient() {
		return nil, session.MaxClientsRefusal(k.hub.opts.MaxClients)
	}
	// A group that runs, or that a client admitted before is starting,
	// takes the client without a new process; otherwise the slot is taken
	// now, so a refusal is a status line. Serve checks the guess again.
	key := groupKey(ep)
	var slot session.Slot
	abandon := k.hub.ReleaseClient
	starter, err := k.hub.Starter(key)
	if err != nil {
		k.hub.ReleaseClient()
		return nil, groupsRefusal(k.hub.opts.MaxGroups, "instance", 0)
	}
	if starter {
		slot, err = g.TakeSlot()
		if err != nil {
			k.hub.Started(key)
			k.hub.ReleaseClient()
			return nil, err
		}
		// Counted in the cluster last: a client refused for a slot does
		// not take a place in the count.
		if ref := k.hub.admitInCluster(r.Context(), key); ref != nil {
			slot.Release()
			k.hub.Started(key)
			k.hub.ReleaseClient()
			return nil, ref
		}
		abandon = func() {
			k.hub.Started(key)
			k.hub.ReleaseClient()
		}
	}
	// Starts: the client gets an ID and its environment, for its join
	// event; the program gets only the server's part of it.
	return &session.Admission{Subprotocols: protos, Protocol: proto, Starts: true, Slot: slot, Abandon: abandon}, nil
}

// subprotocol picks the client's subprotocol: wsbridge.broadcast.v1
// whenever it is offered, beside --subprotocol's (whose clients get the
// plain messages), since a client that offers it reads its form; then
// protos is what the handshake may answer. A malformed ?since=&epoch= is
// refused (400).
func (k *Kind) subprotocol(g session.Gate, r *http.Request) (proto string, protos []string, err error) {
	if !session.OffersSubprotocol(r, Subprotocol) {
		proto, err = g.Subprotocol(r)
		return proto, nil, err
	}
	if _, err := ParseResume(r.URL.Query()); err != nil {
		return "", nil, &session.Refusal{
			Status: http.StatusBadRequest, Message: "400 Bad Request: " + err.Error(),
			Reason: "resume", Counted: session.RefusedBadRequest,
		}
	}
	return Subprotocol, []string{Subprotocol}, nil
}

// Serve attaches the connection to its group, starting the group's program
// if none runs.
func (k *Kind) Serve(c *session.Conn) {
	g, r, slot := c.Gate, c.Request, c.Slot
	info := clientInfo(c.ID, r, c.Env)
	if e := k.hub.engine; e != nil {
		info.ID, info.Instance = e.ClientID(c.ID), e.ID() // unique in the cluster
	}
	client := NewClient(c.WS, c.Cork, info)
	client.Limit(g.Limits(), g.Observer())
	client.setCompression(c.Compression)
	client.inflated.On = c.Compression != session.CompressionOff
	if c.WS.Subprotocol() == Subprotocol {
		resume, _ := ParseResume(r.URL.Query()) // checked by Admit
		client.SpeakV1(resume)
	}
	cfg := g.Program(r, c.Endpoint, g.ServerEnv(r, c.Endpoint))
	if k.hub.opts.PTY {
		session.OnTerminal(&cfg, session.RequestSize(r), k.hub.opts.Term, false)
	}
	prog := Program{
		Start: func(env []string) (*process.Process, error) {
			cfg := cfg
			cfg.Env = append(slices.Clip(cfg.Env), env...)
			proc, err := process.Start(cfg)
			if err != nil {
				g.Observer().SpawnFailed()
			}
			return proc, err
		},
		Claim: func() bool {
			if slot == nil {
				var err error
				if slot, err = g.TakeSlot(); err != nil {
					return false
				}
			}
			return true
		},
		Free:    func() { slot.Free() },
		Ended:   func() { slot.Ended() },
		Track:   g.Track,
		Untrack: g.Untrack,
		Ping:    g.Tunables().PingInterval,
		Log:     c.Log,
	}
	key := groupKey(c.Endpoint)
	starter := c.Slot != nil // Admit made it the starter (Hub.Starter)
	started, err := k.hub.Join(key, client, prog, starter)
	if starter {
		k.hub.Started(key)
	}
	if starter && !started && err == nil {
		c.Slot.Release() // a group ran after all: no process for this slot
	}
	if err != nil {
		client.idle.Stop() // it never joined: no reader will
	}
	switch {
	case errors.Is(err, ErrBusy):
		k.hub.ReleaseClient()
		c.Log.Log(r.Context(), session.LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "maxforks")
		c.WS.Close(websocket.StatusTryAgainLater, "server busy: no free process slot")
	case errors.Is(err, ErrRetired):
		k.hub.ReleaseClient()
		c.Log.Log(r.Context(), session.LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "endpoint reconfigured")
		c.WS.Close(websocket.StatusServiceRestart, "endpoint reconfigured: reconnect")
	case errors.Is(err, ErrGroupsFull):
		k.hub.ReleaseClient()
		g.Observer().Refused(session.RefusedMaxGroups)
		c.Log.Log(r.Context(), session.LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "max-groups")
		c.WS.Close(websocket.StatusTryAgainLater, "server busy: --max-groups")
	case err != nil:
		k.hub.ReleaseClient()
		c.Log.Error("spawn failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		c.WS.Close(websocket.StatusInternalError, session.CloseReason("%v", err))
	default:
		c.Log.Log(r.Context(), session.LevelAccess, "connect", "remote", r.RemoteAddr, "path", r.URL.Path, "group", key, "started", started)
	}
}

// groupsRefusal answers a client that would open a group beyond
// --max-groups (limit), counted on this instance or in the cluster: 503,
// and Retry-After when one may end (a few seconds for a group here, when
// the first counted group's keys expire in the cluster).
func groupsRefusal(limit int, scope string, retry time.Duration) *session.Refusal {
	after := "5"
	if retry > 0 {
		after = strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10)
	}
	where := "server"
	if scope == "cluster" {
		where = "cluster"
	}
	return &session.Refusal{
		Status:     http.StatusServiceUnavailable,
		Message:    "503 Service Unavailable: the " + where + " has its maximum number of groups (--max-groups=" + strconv.Itoa(limit) + ")",
		Reason:     "max-groups",
		Attrs:      []any{"scope", scope},
		Counted:    session.RefusedMaxGroups,
		RetryAfter: after,
	}
}

// admitInCluster counts a group this instance would open in the cluster's
// count (--redis with --max-groups); a refusal when it is full. Redis not
// answering in a second admits the group (Engine.AdmitGroup).
func (h *Hub) admitInCluster(ctx context.Context, key string) *session.Refusal {
	if h.engine == nil || h.opts.MaxGroups <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ok, retry, err := h.engine.AdmitGroup(ctx, key)
	switch {
	case err != nil:
		h.engine.Log().Debug("counting the cluster's groups failed: the group is admitted", "group", key, "err", err)
		return nil
	case !ok:
		return groupsRefusal(h.opts.MaxGroups, "cluster", retry)
	}
	return nil
}

// clientInfo is what the program learns of a client in its join event,
// from the variables a pipe session's program would get.
func clientInfo(id string, r *http.Request, env []string) envelope.ClientInfo {
	var addr, port, user, query, claims string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "REMOTE_ADDR":
			addr = v
		case "REMOTE_PORT":
			port = v
		case "REMOTE_USER":
			user = v
		case "JWT_CLAIMS":
			claims = v
		case "QUERY_STRING":
			query = v
		}
	}
	remote := addr
	if port != "" {
		remote = joinHostPort(addr, port)
	}
	return envelope.ClientInfo{ID: id, Remote: remote, Path: r.URL.Path, Query: query, User: user, Claims: claims}
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

var _ session.Kind = (*Kind)(nil)
