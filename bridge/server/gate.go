package server

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/bridge/metrics"
	"github.com/wsbridge/wsbridge/bridge/pipe"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/bridge/terminal"
	"github.com/wsbridge/wsbridge/process"
)

// gate is the session handler and how it finds endpoints.
type gate struct {
	handler *bridge.Handler
	// resolve finds the endpoint of a request; nil: Command on every path.
	resolve func(*http.Request) (session.Endpoint, error)
	dir     *bridge.ScriptDir // --dir, nil without; closed by the server
}

// newGate builds the bridge's session handler from cfg: the one place the
// bridge's options are filled in.
func newGate(cfg *Config, logger *slog.Logger, obs session.Observer) (*gate, error) {
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
			logger.Warn("--dir holds no executable file: every upgrade will get 404; make the scripts executable (chmod +x)", "dir", d.Base())
		}
	}
	resolve := g.resolve
	if resolve == nil && len(cfg.Command) == 0 {
		// Only files or CGI, as websocketd allows: no WebSocket endpoint.
		resolve = func(*http.Request) (session.Endpoint, error) {
			return session.Endpoint{}, &bridge.NoEndpointError{Reason: bridge.ReasonNoEndpoint}
		}
		g.resolve = resolve
	}
	g.handler = bridge.New(bridge.Options{
		Command:        command,
		Resolve:        resolve,
		Subprotocols:   cfg.Subprotocols,
		MaxForks:       cfg.MaxForks,
		CloseGrace:     cfg.CloseGrace,
		PingInterval:   cfg.PingInterval,
		PassEnv:        cfg.PassEnv,
		ReverseLookup:  cfg.ReverseLookup,
		ServerSoftware: "wsbridge/" + cfg.Version,
		Logger:         logger,
		Observer:       obs,
		Dir:            cfg.Cwd,
		URLArgs:        cfg.URLArgs,
		Once:           cfg.Once,
		CGITimeout:     cfg.CGITimeout,
		Limits:         cfg.Limits,
		Compress:       cfg.Compress,
		Kind:           sessionKind(cfg, obs, logger),
	})
	return g, nil
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
		Reconnect:    t.Reconnect,
		Shared:       t.Shared,
		MaxClients:   t.MaxClients,
		Title:        t.Title,
		MaxFrameSize: cfg.MaxFrameSize,
		Term:         cfg.Term,
	})
}
