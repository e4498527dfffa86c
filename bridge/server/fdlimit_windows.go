package server

import "log/slog"

// logFDLimit: Windows has no RLIMIT_NOFILE (a process may hold millions of
// handles), so the gate keeps no descriptor reserve there (see
// bridge/internal/fdbudget); say so once.
func logFDLimit(log *slog.Logger) {
	log.Info("file descriptors: no limit on Windows; sessions are never refused for want of them")
}
