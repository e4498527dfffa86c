package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/wsbridge/wsbridge/bridge"
)

// Health answers on the metrics listener: /metrics, /healthz (the
// process is alive and serving HTTP) and /readyz (listening and not shutting
// down, below --maxforks and not short of file descriptors: a load balancer
// should send new sessions elsewhere while it says 503).
type Health struct {
	Metrics *Metrics
	Handler *bridge.Handler
	Ready   *atomic.Bool // set while listening and not shutting down
}

func (s *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.Metrics.Write(w)
	case "/healthz":
		io.WriteString(w, "ok\n")
	case "/readyz":
		ok, why := s.readiness()
		if !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	default:
		http.NotFound(w, r)
	}
}

func (s *Health) readiness() (bool, string) {
	if !s.Ready.Load() {
		return false, "not listening (starting or shutting down)"
	}
	if max := s.Handler.Tunables().MaxForks; max > 0 && s.Handler.Active() >= max {
		return false, fmt.Sprintf("at --maxforks (%d sessions)", max)
	}
	if s.Handler.FDShort() {
		return false, "short of file descriptors"
	}
	return true, ""
}
