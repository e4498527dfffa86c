package metrics

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

func TestHealthEndpoints(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := bridge.New(bridge.Options{MaxForks: 0})
	s := &Health{Metrics: New("test"), Handler: h, Ready: new(atomic.Bool)}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	tests := []struct {
		name     string
		ready    bool
		maxForks int
		path     string
		code     int
		body     string
	}{
		{"alive while starting", false, 0, "/healthz", 200, "ok"},
		{"not ready while starting", false, 0, "/readyz", 503, "not listening"},
		{"ready", true, 0, "/readyz", 200, "ready"},
		{"ready below maxforks", true, 1, "/readyz", 200, "ready"},
		{"metrics", true, 0, "/metrics", 200, "wsbridge_sessions_total 0"},
		{"other paths", true, 0, "/", 404, ""},
	}
	for _, tt := range tests {
		s.Ready.Store(tt.ready)
		h.Tune(session.Tunables{MaxForks: tt.maxForks})
		code, body := get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %s gave %d %q, want %d %q", tt.name, tt.path, code, body, tt.code, tt.body)
		}
	}
}
