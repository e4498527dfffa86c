package session

import "log/slog"

// websocketd's log levels, in its order, placed among slog's: debug < trace <
// access < info < error < fatal. Session start and end are logged at access.
const (
	LevelDebug  = slog.LevelDebug
	LevelTrace  = slog.Level(-2)
	LevelAccess = slog.Level(-1)
	LevelInfo   = slog.LevelInfo
	LevelError  = slog.LevelError
	LevelFatal  = slog.Level(12)
)

// LevelNames maps each level to the name websocketd uses for it.
var LevelNames = map[slog.Level]string{
	LevelDebug:  "DEBUG",
	LevelTrace:  "TRACE",
	LevelAccess: "ACCESS",
	LevelInfo:   "INFO",
	LevelError:  "ERROR",
	LevelFatal:  "FATAL",
}
