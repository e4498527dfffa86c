package server

import (
	"io"
	"log/slog"

	"github.com/wsbridge/wsbridge/bridge"
)

var levelByName = map[string]slog.Level{
	"debug":  bridge.LevelDebug,
	"trace":  bridge.LevelTrace,
	"access": bridge.LevelAccess,
	"info":   bridge.LevelInfo,
	"error":  bridge.LevelError,
	"fatal":  bridge.LevelFatal,
}

// newLogger logs to w at level (--loglevel, a LevelVar so SIGHUP can change it) and above, naming levels the way
// websocketd does.
func newLogger(w io.Writer, level slog.Leveler, format string) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey && len(groups) == 0 {
				if l, ok := a.Value.Any().(slog.Level); ok {
					if name, ok := bridge.LevelNames[l]; ok {
						a.Value = slog.StringValue(name)
					}
				}
			}
			return a
		},
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
