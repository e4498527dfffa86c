package main_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkCompare measures wsbridge and, when installed, websocketd side by
// side over real loopback sockets, both running cat:
//
//	go test -run '^$' -bench Compare -benchtime 1x .
//
// Each sub-benchmark reports one figure; compare the two implementations'
// figures from the same run (the machines are shared and noisy).
func BenchmarkCompare(b *testing.B) {
	impls := []struct {
		name string
		argv func(port int) []string
	}{
		{"wsbridge", func(port int) []string {
			return []string{wsbridgeBinary(b), "--address=127.0.0.1", "--port=" + strconv.Itoa(port), "--loglevel=error", "--maxforks=0", "cat"}
		}},
		{"websocketd", func(port int) []string {
			return []string{"websocketd", "--address=127.0.0.1", "--port=" + strconv.Itoa(port), "--loglevel=error", "cat"}
		}},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			if _, err := exec.LookPath(impl.argv(0)[0]); err != nil {
				b.Skipf("%s not installed (apt-get install websocketd)", impl.name)
			}
			port := freePort(b)
			argv := impl.argv(port)
			cmd := exec.Command(argv[0], argv[1:]...)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
			addr := "127.0.0.1:" + strconv.Itoa(port)
			waitListening(b, addr)
			url := "ws://" + addr + "/"
			b.Run("latency", func(b *testing.B) { benchLatency(b, url) })
			b.Run("throughput", func(b *testing.B) { benchThroughput(b, url) })
			b.Run("connect", func(b *testing.B) { benchConnect(b, url) })
			b.Run("idle-memory", func(b *testing.B) { benchIdleMemory(b, url, cmd.Process.Pid) })
		})
	}
}

func waitListening(b *testing.B, addr string) {
	for i := 0; i < 500; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("nothing listening on %s", addr)
}

var payload64 = []byte(strings.Repeat("x", 64))

// benchThroughput pipelines 64-byte messages through one connection.
func benchThroughput(b *testing.B, url string) {
	const n = 100000
	c := dial(b, url)
	defer c.CloseNow()
	ctx := context.Background()
	b.ResetTimer()
	for iter := 0; iter < b.N; iter++ {
		start := time.Now()
		errc := make(chan error, 1)
		go func() {
			for i := 0; i < n; i++ {
				if err := c.Write(ctx, websocket.MessageText, payload64); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		// A server that loses messages would leave the reader waiting.
		stall := time.AfterFunc(time.Minute, func() { c.CloseNow() })
		for i := 0; i < n; i++ {
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatalf("after %d of %d echoes: %v", i, n, err)
			}
		}
		stall.Stop()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(n/time.Since(start).Seconds(), "msgs/s")
	}
}

// benchLatency measures round trips of one message at a time.
func benchLatency(b *testing.B, url string) {
	const n = 5000
	c := dial(b, url)
	defer c.CloseNow()
	ctx := context.Background()
	b.ResetTimer()
	for iter := 0; iter < b.N; iter++ {
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
		b.ReportMetric(float64(rtts[n/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(rtts[n*99/100].Nanoseconds())/1e3, "p99-µs")
	}
}

// benchConnect opens a session, echoes once and closes, sequentially: the
// cost of upgrade plus spawn plus teardown.
func benchConnect(b *testing.B, url string) {
	const n = 300
	ctx := context.Background()
	b.ResetTimer()
	for iter := 0; iter < b.N; iter++ {
		start := time.Now()
		for i := 0; i < n; i++ {
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				b.Fatal(err)
			}
			c.Write(ctx, websocket.MessageText, payload64)
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
			c.Close(websocket.StatusNormalClosure, "")
		}
		b.ReportMetric(n/time.Since(start).Seconds(), "conns/s")
	}
}

// benchIdleMemory opens sessions that have each echoed once and then sit
// idle, and reports the daemon's resident memory per session.
func benchIdleMemory(b *testing.B, url string, pid int) {
	const n = 500
	ctx := context.Background()
	b.ResetTimer()
	for iter := 0; iter < b.N; iter++ {
		time.Sleep(200 * time.Millisecond)
		before := daemonRSS(b, pid)
		conns := make([]*websocket.Conn, 0, n)
		for i := 0; i < n; i++ {
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				b.Fatal(err)
			}
			c.Write(ctx, websocket.MessageText, payload64)
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		time.Sleep(500 * time.Millisecond)
		after := daemonRSS(b, pid)
		b.ReportMetric(float64(after-before)/n/1024, "KB/session")
		for _, c := range conns {
			c.CloseNow()
		}
		time.Sleep(2 * time.Second) // let the children be reaped
	}
}

func daemonRSS(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb << 10
		}
	}
	return 0
}
