package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/bridge/metrics"
	"github.com/wsbridge/wsbridge/bridge/pipe"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/bridge/terminal"
	"github.com/wsbridge/wsbridge/process"
)

// gate is the session handler of one endpoint and how it finds the
// endpoint of a request.
type gate struct {
	handler *bridge.Handler
	// resolve finds the endpoint of a request; nil: Command on every path.
	resolve func(*http.Request) (session.Endpoint, error)
	dir     *bridge.ScriptDir // --dir, nil without; closed by the server
}

// newGate builds the session handler of the endpoint at path ("/" for
// COMMAND or --dir) from cfg, its settings: the one place the bridge's
// options are filled in. srv holds the server-level settings (cfg itself for
// the catch-all); parent, if not nil, is the handler whose server-wide state
// (slots, registry, --once) the new one shares.
func newGate(srv, cfg *Config, path string, parent *bridge.Handler, logger *slog.Logger, obs session.Observer) (*gate, error) {
	g := &gate{}
	var command session.Command
	if len(cfg.Command) > 0 {
		path, err := process.Resolve(cfg.Command[0])
		if err != nil {
			return nil, err
		}
		command = session.Command{Path: path, Args: cfg.Command}
	}
	if cfg.Dir != "" {
		d, err := bridge.OpenScriptDir(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("--dir: %w", err)
		}
		g.dir, g.resolve = d, d.Resolve
		if !d.MayHoldEndpoint() {
			logger.Warn("--dir holds no executable file: every upgrade will get 404; make the scripts executable (chmod +x)", "dir", d.Base(), "endpoint", path)
		}
	}
	if path != "/" {
		g.resolve = mounted(path, command, g.resolve)
	}
	resolve := g.resolve
	if resolve == nil && len(cfg.Command) == 0 {
		// Only files or CGI, as websocketd allows: no WebSocket endpoint.
		resolve = func(*http.Request) (session.Endpoint, error) {
			return session.Endpoint{}, &bridge.NoEndpointError{Reason: bridge.ReasonNoEndpoint}
		}
		g.resolve = resolve
	}
	opts := bridge.Options{
		Command:        command,
		Resolve:        resolve,
		Subprotocols:   cfg.Subprotocols,
		MaxForks:       srv.MaxForks,
		CloseGrace:     cfg.CloseGrace,
		PingInterval:   cfg.PingInterval,
		PassEnv:        cfg.PassEnv,
		ReverseLookup:  srv.ReverseLookup,
		ServerSoftware: "wsbridge/" + srv.Version,
		Logger:         logger,
		Observer:       obs,
		Dir:            cfg.Cwd,
		URLArgs:        cfg.URLArgs,
		Once:           srv.Once,
		CGITimeout:     srv.CGITimeout,
		Limits:         cfg.Limits,
		Compress:       cfg.Compress,
	}
	if len(cfg.Command) > 0 || cfg.Dir != "" {
		// Without either there is no endpoint here (only files, CGI, or
		// the endpoints of Config.Endpoints), so no kind either: a
		// broadcast kind would connect to Redis for nothing.
		opts.Kind = sessionKind(cfg, obs, logger)
	}
	if parent == nil {
		g.handler = bridge.New(opts)
	} else {
		g.handler = parent.Endpoint(opts)
	}
	return g, nil
}

// mounted resolves the requests of an endpoint at path other than "/":
// SCRIPT_NAME is the path (without its final "/") and PATH_INFO the rest of
// the request's path, as for a script of --dir. With dir (--dir under a
// prefix), the rest is looked up in the folder instead.
func mounted(path string, command session.Command, dir func(*http.Request) (session.Endpoint, error)) func(*http.Request) (session.Endpoint, error) {
	base := strings.TrimSuffix(path, "/")
	return func(r *http.Request) (session.Endpoint, error) {
		rest := strings.TrimPrefix(r.URL.Path, base)
		if dir == nil {
			return session.Endpoint{Command: command, ScriptName: base, PathInfo: rest, PathTranslated: rest}, nil
		}
		ep, err := dir(withPath(r, "/"+strings.TrimPrefix(rest, "/")))
		ep.ScriptName = base + ep.ScriptName
		return ep, err
	}
}

// sessionKind is the kind of session the endpoints run: browser terminals
// with --terminal, one program per path with --broadcast, else a pipe per
// connection.
func sessionKind(cfg *Config, obs session.Observer, logger *slog.Logger) session.Kind {
	if cfg.Broadcast != nil {
		opts := *cfg.Broadcast
		m, _ := obs.(*metrics.Metrics)
		if m != nil {
			opts.Observer = m.Broadcast
		}
		if opts.Redis != nil {
			r := *opts.Redis
			r.Log = logger
			if m != nil {
				r.Observer = m.Redis
			}
			opts.Redis = &r
		}
		return broadcast.New(opts)
	}
	t := cfg.Terminal
	if t == nil {
		return pipe.New(pipe.Options{
			Binary:       cfg.Binary,
			PassStderr:   cfg.PassStderr,
			MaxFrameSize: cfg.MaxFrameSize,
			PTY:          cfg.PTY,
			Term:         cfg.Term,
			Framing:      pipe.Framing(cfg.Framing),
		})
	}
	return terminal.New(terminal.Options{
		Writable:     t.Writable,
		NoTransfer:   t.NoTransfer,
		Reconnect:    t.Reconnect,
		Shared:       t.Shared,
		MaxClients:   t.MaxClients,
		Scrollback:   t.Scrollback,
		Title:        t.Title,
		MaxFrameSize: cfg.MaxFrameSize,
		Term:         cfg.Term,
	})
}
