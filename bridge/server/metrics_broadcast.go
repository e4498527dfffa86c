package server

import (
	"fmt"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/wsbridge/wsbridge/bridge/broadcast"
)

// broadcastMetrics count broadcast groups and their clients (--broadcast);
// it is the broadcast.Observer.
type broadcastMetrics struct {
	groups, clients                *vm.Gauge
	slowCloses, restarts           *vm.Counter
	msgsIn, msgsOut, msgsDelivered *vm.Counter
}

func newBroadcastMetrics(s *vm.Set) *broadcastMetrics {
	return &broadcastMetrics{
		groups:        s.NewGauge("wsbridge_broadcast_groups", nil),
		clients:       s.NewGauge("wsbridge_broadcast_clients", nil),
		slowCloses:    s.NewCounter("wsbridge_broadcast_slow_closes_total"),
		restarts:      s.NewCounter("wsbridge_broadcast_restarts_total"),
		msgsIn:        s.NewCounter(`wsbridge_broadcast_messages_total{direction="in"}`),
		msgsOut:       s.NewCounter(`wsbridge_broadcast_messages_total{direction="out"}`),
		msgsDelivered: s.NewCounter(`wsbridge_broadcast_messages_total{direction="delivered"}`),
	}
}

func (b *broadcastMetrics) GroupStarted()   { b.groups.Inc() }
func (b *broadcastMetrics) GroupEnded()     { b.groups.Dec() }
func (b *broadcastMetrics) ClientAttached() { b.clients.Inc() }
func (b *broadcastMetrics) ClientDetached() { b.clients.Dec() }
func (b *broadcastMetrics) SlowClosed()     { b.slowCloses.Inc() }
func (b *broadcastMetrics) Restarted()      { b.restarts.Inc() }
func (b *broadcastMetrics) Messages(in, out, delivered int64) {
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

var _ broadcast.Observer = (*broadcastMetrics)(nil)

// redisMetrics watch the cluster engine (--redis); it is the
// cluster.Observer.
type redisMetrics struct {
	set                     *vm.Set
	reconnects              *vm.Counter
	droppedBuffer, droppedS *vm.Counter
	buffered                *vm.Gauge
	lag                     *vm.Gauge
}

func newRedisMetrics(s *vm.Set) *redisMetrics {
	return &redisMetrics{
		set:           s,
		reconnects:    s.NewCounter("wsbridge_redis_reconnects_total"),
		droppedBuffer: s.NewCounter(`wsbridge_redis_dropped_total{where="buffer"}`),
		droppedS:      s.NewCounter(`wsbridge_redis_dropped_total{where="stream"}`),
		buffered:      s.NewGauge("wsbridge_redis_buffered_bytes", nil),
		lag:           s.NewGauge("wsbridge_redis_stream_lag_seconds", nil),
	}
}

// LeaseHeld sets wsbridge_redis_lease_held{group="..."} to 1 while this
// instance owns the group.
func (r *redisMetrics) LeaseHeld(group string, held bool) {
	v := 0.0
	if held {
		v = 1
	}
	r.set.GetOrCreateGauge(fmt.Sprintf(`wsbridge_redis_lease_held{group=%q}`, group), nil).Set(v)
}

// StreamLag keeps the last lag seen: how long after the owner's append
// this instance read a message.
func (r *redisMetrics) StreamLag(d time.Duration) { r.lag.Set(d.Seconds()) }
func (r *redisMetrics) Reconnected()              { r.reconnects.Inc() }
func (r *redisMetrics) Buffered(delta int)        { r.buffered.Add(float64(delta)) }
func (r *redisMetrics) Dropped(where string, n int64) {
	if where == "buffer" {
		r.droppedBuffer.AddInt64(n)
	} else {
		r.droppedS.AddInt64(n)
	}
}
