package bridge

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// gate is the Handler as the kinds see it (session.Gate): a type of its own
// so that its methods stay off the Handler's API.
type gate Handler

func (h *Handler) gate() *gate { return (*gate)(h) }

var _ session.Gate = (*gate)(nil)

func (g *gate) h() *Handler                     { return (*Handler)(g) }
func (g *gate) Logger() *slog.Logger            { return g.log }
func (g *gate) Observer() session.Observer      { return g.h().observer() }
func (g *gate) Tunables() session.Tunables      { return g.h().Tunables() }
func (g *gate) Limits() session.Limits          { return g.opts.Limits }
func (g *gate) Untrack(m session.Member)        { g.sessions.remove(m) }
func (g *gate) NewID() string                   { return g.idPrefix + strconv.FormatUint(g.ids.Add(1), 10) }
func (g *gate) CheckOpen() error                { return g.h().checkOpen() }
func (g *gate) TakeSlot() (session.Slot, error) { return g.h().takeForkSlot() }

func (g *gate) Subprotocol(r *http.Request) (string, error) { return g.h().subprotocol(r) }

func (g *gate) Env(r *http.Request, id string, ep session.Endpoint) []string {
	return g.h().environ(r, id, ep)
}

func (g *gate) ServerEnv(r *http.Request, ep session.Endpoint) []string {
	return g.h().serverEnviron(r, ep)
}

// Track registers m; during shutdown it tells m to go away at once.
func (g *gate) Track(m session.Member) bool {
	if !g.sessions.add(m) {
		m.GoAway()
		return false
	}
	return true
}

// Program is how to start ep's program for r: argv with the ?arg= values
// (--url-arg), the environment, the working directory and the grace of the
// kill sequence in force now.
func (g *gate) Program(r *http.Request, ep session.Endpoint, env []string) process.Config {
	return process.Config{
		Path:  ep.Command.Path,
		Args:  g.h().argv(r, ep),
		Env:   env,
		Dir:   g.opts.Dir,
		Grace: g.h().closeGrace(),
	}
}

// argv is the endpoint's argv, and with --url-arg the request's ?arg= values
// after it, in order. They go to the program as separate arguments, never
// through a shell, but they are the client's: one may well start with "-".
func (h *Handler) argv(r *http.Request, ep session.Endpoint) []string {
	args := ep.Command.Args
	if !h.opts.URLArgs {
		return args
	}
	extra := r.URL.Query()["arg"]
	if len(extra) == 0 {
		return args
	}
	return append(append(make([]string, 0, len(args)+len(extra)), args...), extra...)
}
