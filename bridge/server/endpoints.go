package server

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// endpoint is one path of the server: its gate (kind, command, session
// options) and the page a plain GET on it gets, if any. The router picks it
// by the request's path; from then on the endpoint's gate owns the
// connection. Sessions keep the endpoint they started on, so a reload that
// replaces it leaves them running on their settings.
type endpoint struct {
	path string // "/" catch-all, "/echo" exact, "/term/" prefix
	*gate
	ws   http.Handler // the gate's handler, which takes the upgrades
	page http.Handler // the terminal page or the dev console; nil: none
	// settings are the endpoint's flag values and command, to tell whether
	// a reload changed it.
	settings map[string]any
}

func newEndpoint(path string, g *gate, page http.Handler, settings map[string]any) *endpoint {
	return &endpoint{path: path, gate: g, ws: g.handler, page: page, settings: settings}
}

// endpointTable maps paths to endpoints. It is never changed once built: a
// reload builds another and swaps it in.
type endpointTable struct {
	byLength []*endpoint // longest path first
}

// match returns the endpoint of a clean request path: the one with that
// exact path, or the longest prefix ending in "/" that it starts with; nil
// if none.
func (t *endpointTable) match(p string) *endpoint {
	for _, e := range t.byLength {
		if p == e.path || (strings.HasSuffix(e.path, "/") && strings.HasPrefix(p, e.path)) {
			return e
		}
	}
	return nil
}

// byPath returns the endpoint at exactly path, or nil.
func (t *endpointTable) byPath(path string) *endpoint {
	for _, e := range t.byLength {
		if e.path == path {
			return e
		}
	}
	return nil
}

func newEndpointTable(eps []*endpoint) *endpointTable {
	sort.SliceStable(eps, func(i, j int) bool { return len(eps[i].path) > len(eps[j].path) })
	return &endpointTable{byLength: eps}
}

// isEndpoint reports whether r is served by e: always for a command, for
// --dir only on a path that names a script.
func (e *endpoint) isEndpoint(r *http.Request) bool {
	if e.resolve == nil {
		return true
	}
	_, err := e.resolve(r)
	return err == nil
}

// endpointBuilder builds the endpoints of cfg.Endpoints, at startup and on
// reload, sharing the server-wide state of base.
type endpointBuilder struct {
	srv  *Config
	base *bridge.Handler
	log  *slog.Logger
	obs  session.Observer
}

// build makes the endpoint at path from epCfg; reuse, if its settings are
// the same, is returned instead (with its live settings tuned), so that an
// unchanged endpoint keeps its shared terminals and broadcast groups across
// a reload.
func (b *endpointBuilder) build(path string, epCfg *Config, reuse *endpoint) (*endpoint, bool, error) {
	settings := endpointSettings(epCfg)
	if reuse != nil && reflect.DeepEqual(reuse.settings, settings) {
		// --maxforks is server-wide, and the reload has set it already.
		reuse.handler.Tune(session.Tunables{MaxForks: reuse.handler.Tunables().MaxForks, CloseGrace: epCfg.CloseGrace, PingInterval: epCfg.PingInterval})
		return reuse, false, nil
	}
	g, err := newGate(b.srv, epCfg, path, b.base, b.log, b.obs)
	if err != nil {
		return nil, false, fmt.Errorf("endpoint %s: %w", path, err)
	}
	return newEndpoint(path, g, pageOf(epCfg, b.log), settings), true, nil
}

// endpointSettings are what makes two endpoints the same: the flag values
// but those a reload tunes in place (--closems, --pingms), and the command.
func endpointSettings(cfg *Config) map[string]any {
	out := maps.Clone(cfg.Flags)
	if out == nil {
		out = map[string]any{}
	}
	for _, name := range []string{"closems", "pingms", "maxforks", "loglevel"} {
		delete(out, name)
	}
	out[commandSetting] = slices.Clone(cfg.Command)
	return out
}

// buildAll builds the endpoints of cfg.Endpoints, reusing old's unchanged
// ones; it returns the new ones made, for the log. On error, the gates it
// made are closed.
func (b *endpointBuilder) buildAll(eps []Endpoint, old *endpointTable) (built []*endpoint, made []string, err error) {
	defer func() {
		if err != nil {
			for _, e := range built {
				if slices.Contains(made, e.path) && e.dir != nil {
					e.dir.Close()
				}
			}
		}
	}()
	seen := map[string]bool{}
	for _, ep := range eps {
		if seen[ep.Path] {
			return built, made, fmt.Errorf("endpoint %s: the path is given twice", ep.Path)
		}
		seen[ep.Path] = true
		var reuse *endpoint
		if old != nil {
			reuse = old.byPath(ep.Path)
		}
		e, isNew, err := b.build(ep.Path, ep.Config, reuse)
		if err != nil {
			return built, made, err
		}
		built = append(built, e)
		if isNew {
			made = append(made, e.path)
		}
	}
	return built, made, nil
}

// needsGuards reports what of the chain in front of the router (newWeb)
// the endpoints need: the own-origin default (a terminal) and the access
// token (a writable terminal nothing else protects).
func needsGuards(srv *Config, eps []Endpoint) (terminal, writable bool) {
	for _, ep := range eps {
		if t := ep.Config.Terminal; t != nil {
			terminal = true
			writable = writable || (t.Writable && !credentialed(srv))
		}
	}
	return terminal, writable
}

// errGuards refuses a reload that would serve a terminal the running
// chain does not protect.
var errGuards = errors.New("an endpoint became a terminal (or a writable one) where none was at startup: the origin check and access token it needs are set up at startup; restart wsbridge to apply")

// endpointReload swaps the router's endpoints for those of a reloaded
// configuration: new sessions use the new table, running ones keep the
// endpoint (gate, kind, options) they started on. An endpoint whose settings
// did not change is kept as it is, shared terminals and broadcast groups
// included. The catch-all "/" of COMMAND or --dir needs a restart to change.
type endpointReload struct {
	builder *endpointBuilder
	router  *router
	log     *slog.Logger
	startup *Config
	// retiring counts the endpoints a reload replaced or removed whose
	// kind still holds something until its sessions end (Handler.Retire);
	// Run waits for them at shutdown.
	retiring *sync.WaitGroup
}

func (r *endpointReload) reload(next *Config) (int, error) {
	old := r.router.endpoints.Load()
	hadTerminal, hadWritable := needsGuards(r.startup, r.startup.Endpoints)
	hadTerminal = hadTerminal || r.startup.Terminal != nil
	hadWritable = hadWritable || openTerminal(r.startup) || r.startup.NoAuth
	terminal, writable := needsGuards(r.startup, next.Endpoints)
	if (terminal && !hadTerminal) || (writable && !hadWritable) {
		return 0, errGuards
	}
	catchAll := len(r.startup.Command) > 0 || r.startup.Dir != ""
	if catchAll && slices.ContainsFunc(next.Endpoints, func(ep Endpoint) bool { return ep.Path == "/" }) {
		return 0, errors.New("endpoint /: the path is given twice: COMMAND or --dir is the / endpoint")
	}
	built, made, err := r.builder.buildAll(next.Endpoints, old)
	if err != nil {
		return 0, err
	}
	// Scripts of a --dir are hidden from --staticdir by the folders known
	// at startup.
	for _, e := range built {
		if e.dir != nil && !slices.ContainsFunc(old.byLength, func(o *endpoint) bool { return o.dir != nil && o.dir.Base() == e.dir.Base() }) {
			for _, e := range built {
				if slices.Contains(made, e.path) && e.dir != nil {
					e.dir.Close()
				}
			}
			return 0, fmt.Errorf("endpoint %s: --dir=%s is a folder not served at startup: restart wsbridge to apply", e.path, e.dir.Base())
		}
	}
	if catchAll {
		built = append(built, old.byPath("/"))
	}
	table := newEndpointTable(built)
	r.router.endpoints.Store(table)
	changed := len(made)
	for _, e := range built {
		switch {
		case slices.Contains(made, e.path) && old.byPath(e.path) != nil:
			r.log.Info("endpoint changed: new sessions use the new settings, running ones keep theirs", "path", e.path)
		case slices.Contains(made, e.path):
			r.log.Info("endpoint added", "path", e.path)
		}
	}
	for _, e := range old.byLength {
		if table.byPath(e.path) == nil {
			r.log.Info("endpoint removed: running sessions keep going", "path", e.path)
			changed++
		}
		if table.byPath(e.path) != e {
			r.retiring.Go(e.gate.handler.Retire)
		}
	}
	return changed, nil
}
