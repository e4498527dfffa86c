package server

import (
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
