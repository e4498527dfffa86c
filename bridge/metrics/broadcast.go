package metrics

import (
	"strings"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/wsbridge/wsbridge/bridge/broadcast"
)

// BroadcastCounters count broadcast groups and their clients (--broadcast);
// it is the broadcast.Observer.
type BroadcastCounters struct {
	groups, clients                *vm.Gauge
	slowCloses, restarts           *vm.Counter
	msgsIn, msgsOut, msgsDelivered *vm.Counter
}

func newBroadcastCounters(s *vm.Set) *BroadcastCounters {
	return &BroadcastCounters{
		groups:        s.NewGauge("wsbridge_broadcast_groups", nil),
		clients:       s.NewGauge("wsbridge_broadcast_clients", nil),
		slowCloses:    s.NewCounter("wsbridge_broadcast_slow_closes_total"),
		restarts:      s.NewCounter("wsbridge_broadcast_restarts_total"),
		msgsIn:        s.NewCounter(`wsbridge_broadcast_messages_total{direction="in"}`),
		msgsOut:       s.NewCounter(`wsbridge_broadcast_messages_total{direction="out"}`),
		msgsDelivered: s.NewCounter(`wsbridge_broadcast_messages_total{direction="delivered"}`),
	}
}

func (b *BroadcastCounters) GroupStarted()   { b.groups.Inc() }
func (b *BroadcastCounters) GroupEnded()     { b.groups.Dec() }
func (b *BroadcastCounters) ClientAttached() { b.clients.Inc() }
func (b *BroadcastCounters) ClientDetached() { b.clients.Dec() }
func (b *BroadcastCounters) SlowClosed()     { b.slowCloses.Inc() }
func (b *BroadcastCounters) Restarted()      { b.restarts.Inc() }
func (b *BroadcastCounters) Messages(in, out, delivered int64) {
	if in != 0 {
		b.msgsIn.AddInt64(in)
	}
	if out != 0 {
		b.msgsOut.AddInt64(out)
	}
	if delivered != 0 {
		b.msgsDelivered.AddInt64(delivered)
	}
}

var _ broadcast.Observer = (*BroadcastCounters)(nil)

// RedisCounters watch the cluster engine (--redis); it is the
// cluster.Observer.
type RedisCounters struct {
	set                     *vm.Set
	reconnects              *vm.Counter
	droppedBuffer, droppedS *vm.Counter
	droppedFail, rewritten  *vm.Counter // a failover lost output: not written again, written again
	buffered                *vm.Gauge
	lag                     *vm.Gauge

	trimmedOut, trimmedIn           *vm.Counter
	trimmedOutBytes, trimmedInBytes *vm.Counter
}

func newRedisCounters(s *vm.Set) *RedisCounters {
	return &RedisCounters{
		set:           s,
		reconnects:    s.NewCounter("wsbridge_redis_reconnects_total"),
		droppedBuffer: s.NewCounter(`wsbridge_redis_dropped_total{where="buffer"}`),
		droppedS:      s.NewCounter(`wsbridge_redis_dropped_total{where="stream"}`),
		droppedFail:   s.NewCounter(`wsbridge_redis_dropped_total{where="failover"}`),
		rewritten:     s.NewCounter("wsbridge_redis_rewritten_total"),
		buffered:      s.NewGauge("wsbridge_redis_buffered_bytes", nil),
		lag:           s.NewGauge("wsbridge_redis_stream_lag_seconds", nil),

		trimmedOut:      s.NewCounter(`wsbridge_redis_trimmed_total{stream="out"}`),
		trimmedIn:       s.NewCounter(`wsbridge_redis_trimmed_total{stream="in"}`),
		trimmedOutBytes: s.NewCounter(`wsbridge_redis_trimmed_bytes_total{stream="out"}`),
		trimmedInBytes:  s.NewCounter(`wsbridge_redis_trimmed_bytes_total{stream="in"}`),
	}
}

// LeaseHeld shows wsbridge_redis_lease_held{group="..."} = 1 while this
// instance owns the group, and removes it when the lease goes: groups are
// request paths, which clients choose, so a series per group ever seen
// would grow without bound.
func (r *RedisCounters) LeaseHeld(group string, held bool) {
	name := `wsbridge_redis_lease_held{group="` + labelValue.Replace(group) + `"}`
	if held {
		r.set.GetOrCreateGauge(name, nil).Set(1)
	} else {
		r.set.UnregisterMetric(name)
	}
}

// labelValue escapes a Prometheus label value (text format): backslash,
// double quote and newline.
var labelValue = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// StreamLag keeps the last lag seen: how long after the owner's append
// this instance read a message.
func (r *RedisCounters) StreamLag(d time.Duration) { r.lag.Set(d.Seconds()) }
func (r *RedisCounters) Reconnected()              { r.reconnects.Inc() }
func (r *RedisCounters) Buffered(delta int)        { r.buffered.Add(float64(delta)) }
func (r *RedisCounters) Dropped(where string, n int64) {
	switch where {
	case "buffer":
		r.droppedBuffer.AddInt64(n)
	case "failover":
		r.droppedFail.AddInt64(n)
	default:
		r.droppedS.AddInt64(n)
	}
}

// Rewritten counts output a failover lost from the stream that the owner
// wrote again from its buffer.
func (r *RedisCounters) Rewritten(n int64) { r.rewritten.AddInt64(n) }

// Trimmed counts stream entries trimmed by --redis-stream-bytes or the
// entry counts: output that was history, or input no owner consumed.
func (r *RedisCounters) Trimmed(stream string, entries, bytes int64) {
	if stream == "out" {
		r.trimmedOut.AddInt64(entries)
		r.trimmedOutBytes.AddInt64(bytes)
	} else {
		r.trimmedIn.AddInt64(entries)
		r.trimmedInBytes.AddInt64(bytes)
	}
}
