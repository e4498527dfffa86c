package server

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"

	"github.com/wsbridge/wsbridge/bridge"
)

// reloadable are the settings a reload (SIGHUP) applies to the running
// daemon. Each is safe to change under live sessions: the log level at once,
// --maxforks from the next upgrade, --pingms and --closems for sessions that
// start afterwards. Everything else (ports, the command, TLS files through
// their own reload) needs a restart, and a reload says so when it changed.
var reloadable = []string{"loglevel", "maxforks", "pingms", "closems", "endpoint"}

// commandSetting names the command in the reload's log, as the config
// file's key does.
const commandSetting = "command"

// liveSettings re-reads the configuration on reload through
// Config.Reparse: the same command line, the same environment, the config
// file as it is now, with the same precedence as at startup, so a flag given
// on the command line still wins over the file.
type liveSettings struct {
	log     *slog.Logger
	level   *slog.LevelVar
	handler *bridge.Handler
	parse   func() (*Config, error)
	// endpoints, if set, swaps in the endpoints of the new configuration.
	// It returns how many endpoints were added, changed or removed.
	endpoints func(*Config) (int, error)

	// values and command are the settings in force, by flag name.
	values  map[string]any
	command []string
}

func newLiveSettings(log *slog.Logger, level *slog.LevelVar, h *bridge.Handler, cfg *Config) *liveSettings {
	values := make(map[string]any, len(cfg.Flags))
	for k, v := range cfg.Flags {
		values[k] = v
	}
	return &liveSettings{log: log, level: level, handler: h, parse: cfg.Reparse, values: values, command: cfg.Command}
}

// reload is registered with the reloader as "config".
func (l *liveSettings) reload() error {
	next, err := l.parse()
	if err != nil {
		return err
	}
	// Apply first, report after: whoever reads the report may act on it.
	l.level.Set(levelByName[next.LogLevel])
	l.handler.Tune(next.tunables())
	changed := 0
	if l.endpoints != nil {
		n, err := l.endpoints(next)
		if err != nil {
			return err
		}
		changed += n
	}
	for name, v := range next.Flags {
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
		l.log.Info("setting changed but needs a restart to apply", "name", commandSetting, "old", fmt.Sprint(l.command), "new", fmt.Sprint(next.Command))
	}
	if changed == 0 {
		l.log.Info("configuration unchanged")
	}
	return nil
}
