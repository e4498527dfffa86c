// Package metrics counts what the daemon does, for Prometheus, and
// answers the health checks of the metrics listener (/healthz, /readyz).
package metrics

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// Metrics counts what the bridge reports (it is the session.Observer) and
// serves it in Prometheus' text format on the --metrics-address listener,
// never on the public port.
//
// VictoriaMetrics/metrics is used for counters, gauges and the process_* and
// go_* metrics: a few hundred kilobytes and two small dependencies, where
// prometheus/client_golang adds ~2.8 MB and protobuf. Its own histogram has
// VictoriaMetrics "vmrange" buckets that Prometheus' histogram_quantile
// cannot read, so the one histogram here is a classic "le" one of our own.
type Metrics struct {
	set *vm.Set

	active        *vm.Gauge
	sessions      *vm.Counter
	spawnFailures *vm.Counter
	msgsIn        *vm.Counter
	msgsOut       *vm.Counter
	bytesIn       *vm.Counter
	bytesOut      *vm.Counter
	duration      *histogram
	Broadcast     *BroadcastCounters // --broadcast (broadcast.go)
	Redis         *RedisCounters     // --redis (broadcast.go)

	// refusals and exits are the counters of the usual refusal reasons and
	// close-code classes, looked up once here rather than by name per
	// event.
	refusals map[string]*vm.Counter
	exits    map[string]*vm.Counter
	dropped  map[string]*vm.Counter
}

// sessionDurationBuckets are upper bounds in seconds, from a short command to
// a terminal left open for a day.
var sessionDurationBuckets = []float64{0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}

// closeClasses are the close-code classes child exits are counted by.
var closeClasses = []string{"1000", "1001", "1011", "4xxx"}

// New makes the counters; version labels wsbridge_build_info.
func New(version string) *Metrics {
	vm.ExposeMetadata(true) // # TYPE lines, for Prometheus
	s := vm.NewSet()
	m := &Metrics{
		set:           s,
		active:        s.NewGauge("wsbridge_sessions_active", nil),
		sessions:      s.NewCounter("wsbridge_sessions_total"),
		spawnFailures: s.NewCounter("wsbridge_spawn_failures_total"),
		msgsIn:        s.NewCounter(`wsbridge_messages_total{direction="in"}`),
		msgsOut:       s.NewCounter(`wsbridge_messages_total{direction="out"}`),
		bytesIn:       s.NewCounter(`wsbridge_bytes_total{direction="in"}`),
		bytesOut:      s.NewCounter(`wsbridge_bytes_total{direction="out"}`),
		duration:      newHistogram("wsbridge_session_duration_seconds", sessionDurationBuckets),
		refusals:      map[string]*vm.Counter{},
		exits:         map[string]*vm.Counter{},
		dropped:       map[string]*vm.Counter{},
		Broadcast:     newBroadcastCounters(s),
		Redis:         newRedisCounters(s),
	}
	s.NewGauge(fmt.Sprintf(`wsbridge_build_info{version=%q}`, version), func() float64 { return 1 })
	for _, r := range session.RefusalReasons {
		m.refusals[r] = m.refusedCounter(r)
	}
	for _, r := range session.DropReasons {
		m.dropped[r] = s.NewCounter(`wsbridge_messages_dropped_total{reason="` + r + `"}`)
	}
	for _, c := range closeClasses {
		m.exits[c] = m.exitsCounter(c)
	}
	return m
}

func (m *Metrics) refusedCounter(reason string) *vm.Counter {
	if c, ok := m.refusals[reason]; ok {
		return c
	}
	return m.set.GetOrCreateCounter(`wsbridge_handshakes_refused_total{reason="` + reason + `"}`)
}

func (m *Metrics) exitsCounter(class string) *vm.Counter {
	if c, ok := m.exits[class]; ok {
		return c
	}
	// A close code of no usual class (a protocol error's 1002, say).
	return m.set.GetOrCreateCounter(`wsbridge_child_exits_total{close_code="` + class + `"}`)
}

// closeClass groups close codes: the exit statuses 4000-4255 as "4xxx", the
// standard codes by their number.
func closeClass(code websocket.StatusCode) string {
	if code >= session.StatusExitBase && code < session.StatusExitBase+1000 {
		return "4xxx"
	}
	return strconv.Itoa(int(code))
}

// SessionStarted, SessionEnded, Refused and SpawnFailed make metrics a
// session.Observer.
func (m *Metrics) SessionStarted() {
	m.active.Inc()
	m.sessions.Inc()
}

func (m *Metrics) SessionEnded(code websocket.StatusCode, d time.Duration, bytesIn, bytesOut, msgsIn, msgsOut int64) {
	m.active.Dec()
	m.exitsCounter(closeClass(code)).Inc()
	m.msgsIn.AddInt64(msgsIn)
	m.msgsOut.AddInt64(msgsOut)
	m.bytesIn.AddInt64(bytesIn)
	m.bytesOut.AddInt64(bytesOut)
	m.duration.observe(d.Seconds())
}

func (m *Metrics) Refused(reason string) { m.refusedCounter(reason).Inc() }

func (m *Metrics) SpawnFailed() { m.spawnFailures.Inc() }

func (m *Metrics) MessageDropped(reason string) {
	if c, ok := m.dropped[reason]; ok {
		c.Inc()
		return
	}
	m.set.GetOrCreateCounter(`wsbridge_messages_dropped_total{reason="` + reason + `"}`).Inc()
}

var _ session.Observer = (*Metrics)(nil)

// write emits every metric in Prometheus' text format.
// Write writes every metric in Prometheus' text format.
func (m *Metrics) Write(w io.Writer) {
	m.set.WritePrometheus(w)
	m.duration.write(w)
	vm.WriteProcessMetrics(w)
}

// histogram is a Prometheus classic histogram: cumulative "le" buckets, _sum
// and _count.
type histogram struct {
	name   string
	bounds []float64
	counts []atomic.Uint64 // per bucket, not cumulative; last is +Inf
	sum    atomic.Uint64   // float64 bits
	count  atomic.Uint64
}

func newHistogram(name string, bounds []float64) *histogram {
	return &histogram{name: name, bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.count.Add(1)
}

func (h *histogram) write(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s\n# TYPE %s histogram\n", h.name, h.name)
	// Observations land while this runs: +Inf and _count both take the
	// larger of the total and the bucket sum, so they agree and never fall
	// below a bucket.
	count := h.count.Load()
	var cum uint64
	for i, le := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(&b, "%s_bucket{le=%q} %d\n", h.name, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(&b, "%s_bucket{le=\"+Inf\"} %d\n", h.name, max(cum, count))
	fmt.Fprintf(&b, "%s_sum %s\n", h.name, strconv.FormatFloat(math.Float64frombits(h.sum.Load()), 'g', -1, 64))
	fmt.Fprintf(&b, "%s_count %d\n", h.name, max(cum, count))
	io.WriteString(w, b.String())
}
