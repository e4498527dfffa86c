package pipe_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/pipe"
)

// In-process benchmarks of one session echoing through cat. For the
// side-by-side comparison with websocketd over real sockets, run
// `go run ./examples/bench` in the repository root.

var msg64 = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")

// BenchmarkEchoPipelined sends b.N 64-byte messages as fast as the client can
// while reading the echoes: throughput of one connection.
func BenchmarkEchoPipelined(b *testing.B) {
	echoPipelined(b, pipe.Options{MaxFrameSize: 1 << 20})
}

// BenchmarkEchoPipelinedLength is BenchmarkEchoPipelined with
// --framing=length: every message a record both ways.
func BenchmarkEchoPipelinedLength(b *testing.B) {
	echoPipelined(b, pipe.Options{MaxFrameSize: 1 << 20, Framing: pipe.FramingLength})
}

func echoPipelined(b *testing.B, po pipe.Options) {
	_, srv := newServer(b, bridge.Options{}, po, "cat")
	c := dial(b, wsURL(srv))
	defer c.CloseNow()
	ctx := context.Background()
	b.SetBytes(int64(len(msg64)))
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			if err := c.Write(ctx, websocket.MessageText, msg64); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < b.N; i++ {
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkEchoRoundTrip sends one message and waits for its echo: latency.
func BenchmarkEchoRoundTrip(b *testing.B) {
	_, srv := newServer(b, bridge.Options{}, pipe.Options{MaxFrameSize: 1 << 20}, "cat")
	c := dial(b, wsURL(srv))
	defer c.CloseNow()
	ctx := context.Background()
	rtts := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := c.Write(ctx, websocket.MessageText, msg64); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
}
