package server

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// TestLiveSettingsReload: reloadable settings apply and are reported once;
// others are reported as needing a restart, every time.
func TestLiveSettingsReload(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	level := new(slog.LevelVar)
	h := bridge.New(bridge.Options{MaxForks: 5})
	next := &Config{LogLevel: "debug", MaxForks: 7, PingInterval: time.Second, Command: []string{"cat"},
		Flags: map[string]any{"maxforks": 7, "port": 9}}
	cfg := &Config{LogLevel: "info", MaxForks: 5, Command: []string{"cat"},
		Flags:   map[string]any{"maxforks": 5, "port": 8},
		Reparse: func() (*Config, error) { return next, nil }}
	live := newLiveSettings(slog.New(slog.NewTextHandler(&logs, nil)), level, h, cfg)
	if err := live.reload(); err != nil {
		t.Fatal(err)
	}
	if level.Level() != session.LevelDebug || h.Tunables().MaxForks != 7 || h.Tunables().PingInterval != time.Second {
		t.Errorf("not applied: level %v, tunables %+v", level.Level(), h.Tunables())
	}
	out := logs.String()
	if !strings.Contains(out, `msg="setting changed" name=maxforks old=5 new=7`) ||
		!strings.Contains(out, `needs a restart to apply" name=port old=8 new=9`) {
		t.Errorf("log:\n%s", out)
	}
	if err := live.reload(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "name=port"); n != 2 {
		t.Errorf("port reported %d times over two reloads, want 2", n)
	}
	if n := strings.Count(logs.String(), "name=maxforks"); n != 1 {
		t.Errorf("maxforks reported %d times over two reloads, want 1", n)
	}
	if cfg.Flags["maxforks"] != 5 {
		t.Errorf("the caller's Flags were changed: %v", cfg.Flags)
	}
}
