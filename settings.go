package main

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/bridge"
)

// reloadable are the settings a reload (SIGHUP) applies to the running
// daemon. Each is safe to change under live sessions: the log level at once,
// --maxforks from the next upgrade, --pingms and --closems for sessions that
// start afterwards. Everything else (ports, the command, TLS files through
// their own reload) needs a restart, and a reload says so when it changed.
var reloadable = []string{"loglevel", "maxforks", "pingms", "closems"}

// liveSettings re-reads the configuration on reload: the same command line,
// the same environment, the config file as it is now, with the same
// precedence as at startup, so a flag given on the command line still wins
// over the file.
type liveSettings struct {
	log     *slog.Logger
	level   *slog.LevelVar
	handler *bridge.Handler
	parse   func() (*cli, *kong.Kong, error)

	// values and command are the settings in force, by flag name.
	values  map[string]any
	command []string
}

func newLiveSettings(log *slog.Logger, level *slog.LevelVar, h *bridge.Handler, c *cli, k *kong.Kong, parse func() (*cli, *kong.Kong, error)) *liveSettings {
	return &liveSettings{log: log, level: level, handler: h, parse: parse, values: flagValues(k), command: c.Command}
}

// reload is registered with the reloader as "config".
func (l *liveSettings) reload() error {
	next, model, err := l.parse()
	if err != nil {
		return err
	}
	// Apply first, report after: whoever reads the report may act on it.
	l.level.Set(levelByName[next.LogLevel])
	l.handler.Tune(next.tunables())
	changed := 0
	for name, v := range flagValues(model) {
		was, ok := l.values[name]
		if ok && reflect.DeepEqual(was, v) {
			continue
		}
		changed++
		if slices.Contains(reloadable, name) {
			l.log.Info("setting changed", "name", name, "old", fmt.Sprint(was), "new", fmt.Sprint(v))
			l.values[name] = v
		} else {
			// Not applied, so the next reload reports it again until a
			// restart.
			l.log.Info("setting changed but needs a restart to apply", "name", name, "old", fmt.Sprint(was), "new", fmt.Sprint(v))
		}
	}
	if !slices.Equal(l.command, next.Command) {
		changed++
		l.log.Info("setting changed but needs a restart to apply", "name", commandKey, "old", fmt.Sprint(l.command), "new", fmt.Sprint(next.Command))
	}
	if changed == 0 {
		l.log.Info("configuration unchanged")
	}
	return nil
}

// tunables are the bridge settings reload may change.
func (c *cli) tunables() bridge.Tunables {
	return bridge.Tunables{
		MaxForks:     c.MaxForks,
		CloseGrace:   time.Duration(c.CloseMs) * time.Millisecond,
		PingInterval: time.Duration(c.PingMs) * time.Millisecond,
	}
}

// flagValues maps each flag's name to its value in the parsed model.
func flagValues(k *kong.Kong) map[string]any {
	out := map[string]any{}
	for _, f := range k.Model.Flags {
		if !inFile(f) || !f.Target.IsValid() {
			continue
		}
		out[f.Name] = f.Target.Interface()
	}
	return out
}

// reparse parses args as run did at startup, with the same kong options (and
// so the same resolver, which re-reads the config file).
func reparse(args []string, opts []kong.Option, src *configSource) (c *cli, k *kong.Kong, err error) {
	c = new(cli)
	k, err = kong.New(c, opts...)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(exitRequest); !ok {
				panic(r)
			}
			c, k, err = nil, nil, fmt.Errorf("parse: unexpected exit request")
		}
	}()
	if _, err := k.Parse(websocketdFlags(args, k)); err != nil {
		return nil, nil, err
	}
	src.fillCommand(c)
	if err := c.validate(); err != nil {
		return nil, nil, err
	}
	return c, k, nil
}
