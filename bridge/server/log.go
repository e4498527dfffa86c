package server

import (
	"io"
	"log/slog"

	"github.com/wsbridge/wsbridge/bridge/session"
)

var levelByName = map[string]slog.Level{
	"debug":  session.LevelDebug,
	"trace":  session.LevelTrace,
	"access": session.LevelAccess,
	"info":   session.LevelInfo,
	"error":  session.LevelError,
	"fatal":  session.LevelFatal,
}

// newLogger logs to w at level (--loglevel, a LevelVar so SIGHUP can change it) and above, naming levels the way
// websocketd does.
func newLogger(w io.Writer, level slog.Leveler, format string) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey && len(groups) == 0 {
				if l, ok := a.Value.Any().(slog.Level); ok {
					if name, ok := session.LevelNames[l]; ok {
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
