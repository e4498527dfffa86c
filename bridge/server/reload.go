package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// reloader is where whatever can change without a restart registers to be
// told on SIGHUP: the config file's reloadable settings (settings.go), and
// TLS certificates. Each function applies what changed and logs it; one that
// fails keeps its old state and does not stop the others. Sessions are never
// touched.
type reloader struct {
	log *slog.Logger

	mu    sync.Mutex // held through a reload, so reloads never overlap
	hooks []reloadHook
}

type reloadHook struct {
	name string
	fn   func() error
}

func newReloader(log *slog.Logger) *reloader { return &reloader{log: log} }

// Register adds fn, run on every reload under name (for the log).
func (r *reloader) Register(name string, fn func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks = append(r.hooks, reloadHook{name, fn})
}

// Reload runs every registered function in the order registered and returns
// their errors joined.
func (r *reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	r.log.Info("reloading", "parts", len(r.hooks))
	var errs []error
	for _, h := range r.hooks {
		if err := h.fn(); err != nil {
			r.log.Error("reload failed; keeping the previous settings", "part", h.name, "err", err)
			errs = append(errs, fmt.Errorf("reload %s: %w", h.name, err))
			continue
		}
		r.log.Log(context.Background(), slog.LevelDebug, "reloaded", "part", h.name)
	}
	r.log.Info("reload done", "failed", len(errs), "duration_ms", time.Since(start).Milliseconds())
	return errors.Join(errs...)
}
