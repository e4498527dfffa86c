package main_test

import (
	"context"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkCompare measures wsbridge against websocketd (Debian's
// websocketd package) side by side over real loopback sockets, both running
// cat, and reports each figure for both plus their ratio:
//
//	go test -run '^$' -bench Compare -benchtime 1x .
//
// Both daemons run at once and the measurements alternate between them in
// rounds, so a noisy neighbour hits both alike. Without websocketd only
// wsbridge's figures are reported.
func BenchmarkCompare(b *testing.B) {
	impls := []*benchTarget{
		startTarget(b, "wsbridge", wsbridgeBinary(b), "--maxforks=0", "--loglevel=error"),
	}
	if path, err := exec.LookPath("websocketd"); err == nil {
		impls = append(impls, startTarget(b, "websocketd", path, "--loglevel=error"))
	} else {
		b.Log("websocketd not installed (apt-get install websocketd): reporting wsbridge alone")
	}
	// Memory first, while both daemons are fresh.
	b.Run("idle-memory", func(b *testing.B) {
		compare(b, impls, "KB/session", false, func(t *benchTarget) float64 { return measureIdleMemory(b, t, 500) })
	})
	b.Run("throughput", func(b *testing.B) {
		compare(b, impls, "msgs/s", true, func(t *benchTarget) float64 { return measureThroughput(b, t.url, 20000) })
	})
	b.Run("latency-p50", func(b *testing.B) {
		compare(b, impls, "µs", false, func(t *benchTarget) float64 { return measureLatency(b, t.url, 1000) })
	})
	b.Run("connect", func(b *testing.B) {
		compare(b, impls, "conns/s", true, func(t *benchTarget) float64 { return measureConnect(b, t.url, 100) })
	})
}

type benchTarget struct {
	name  string
	url   string
	srv   *server
	path  string
	flags []string
}

func startTarget(b *testing.B, name, path string, flags ...string) *benchTarget {
	srv := startOnFreePort(b, nil, path, append(flags, "cat")...)
	return &benchTarget{name: name, url: srv.URL("/"), srv: srv, path: path, flags: flags}
}

// compare runs measure on each target in alternating rounds and reports the
// median of each, and wsbridge's advantage as a ratio (>1 is better).
func compare(b *testing.B, targets []*benchTarget, unit string, higherIsBetter bool, measure func(*benchTarget) float64) {
	const rounds = 3
	results := make([][]float64, len(targets))
	for i := 0; i < b.N*rounds; i++ {
		for j, t := range targets {
			results[j] = append(results[j], measure(t))
		}
	}
	medians := make([]float64, len(targets))
	for j, t := range targets {
		sort.Float64s(results[j])
		medians[j] = results[j][len(results[j])/2]
		b.ReportMetric(medians[j], t.name+"-"+unit)
	}
	if len(targets) == 2 && medians[0] > 0 && medians[1] > 0 {
		ratio := medians[0] / medians[1]
		if !higherIsBetter {
			ratio = medians[1] / medians[0]
		}
		b.ReportMetric(ratio, "x-better")
	}
}

var payload64 = []byte(strings.Repeat("x", 64))

// measureThroughput echoes n 64-byte messages through one connection with
// up to 100 in flight.
func measureThroughput(b *testing.B, url string, n int) float64 {
	const window = 100
	c := dial(b, url)
	defer c.CloseNow()
	ctx := context.Background()
	credit := make(chan struct{}, window)
	for i := 0; i < window; i++ {
		credit <- struct{}{}
	}
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			<-credit
			if err := c.Write(ctx, websocket.MessageText, payload64); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	stall := time.AfterFunc(time.Minute, func() { c.CloseNow() })
	defer stall.Stop()
	for i := 0; i < n; i++ {
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatalf("after %d of %d echoes: %v", i, n, err)
		}
		credit <- struct{}{}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

// measureLatency returns the median round trip of one message at a time.
func measureLatency(b *testing.B, url string, n int) float64 {
	c := dial(b, url)
	defer c.CloseNow()
	ctx := context.Background()
	rtts := make([]time.Duration, n)
	for i := range rtts {
		start := time.Now()
		c.Write(ctx, websocket.MessageText, payload64)
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
		rtts[i] = time.Since(start)
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return float64(rtts[n/2].Nanoseconds()) / 1e3
}

// measureConnect opens a session, echoes once and closes, n times in a row:
// upgrade, spawn and teardown.
func measureConnect(b *testing.B, url string, n int) float64 {
	start := time.Now()
	for i := 0; i < n; i++ {
		dialEchoOnce(b, url).Close(websocket.StatusNormalClosure, "")
	}
	return float64(n) / time.Since(start).Seconds()
}

// measureIdleMemory starts a fresh daemon like t (a used one would reuse
// memory it already has), opens n sessions that each echo once and then sit
// idle, and returns the resident memory growth per session.
func measureIdleMemory(b *testing.B, shared *benchTarget, n int) float64 {
	t := startTarget(b, shared.name, shared.path, shared.flags...)
	defer t.srv.stop(b)
	time.Sleep(300 * time.Millisecond)
	before := rss(b, t.srv.cmd.Process.Pid)
	conns := make([]*websocket.Conn, 0, n)
	for i := 0; i < n; i++ {
		conns = append(conns, dialEchoOnce(b, t.url))
	}
	time.Sleep(500 * time.Millisecond)
	after := rss(b, t.srv.cmd.Process.Pid)
	for _, c := range conns {
		c.CloseNow()
	}
	return float64(after-before) / float64(n) / 1024
}

// dialEchoOnce opens a session and echoes one message through it.
func dialEchoOnce(b *testing.B, url string) *websocket.Conn {
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.Write(ctx, websocket.MessageText, payload64)
	if _, _, err := c.Read(ctx); err != nil {
		b.Fatal(err)
	}
	return c
}
