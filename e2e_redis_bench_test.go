package main_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkRedisCluster measures a group spread over three instances
// through one redis-server (go test -run '^$' -bench RedisCluster
// -benchtime 1x .):
//   - delay: the program writes its clock (ns) once per 2 ms; a client on
//     another instance than the owner's takes its receipt time: p50 and p99
//     of the difference, over 2,000 messages;
//   - throughput: the program writes 200,000 lines of 64 bytes as fast as it
//     can; three clients (one per instance) read them all: msgs/s (per
//     client) from the first to the last.
func BenchmarkRedisCluster(b *testing.B) {
	r := startRedis(b)
	need(b, "python3", "the benchmark's program")
	prog := writeFile(b, b.TempDir()+"/clock.py", `import sys, time
mode = sys.argv[1]
sys.stdin.readline()
if mode == "clock":
    for i in range(2000):
        print(time.time_ns(), flush=True)
        time.sleep(0.002)
else:
    line = "x" * 50
    out = sys.stdout
    for i in range(200000):
        out.write("%013d%s\n" % (i, line))
    out.flush()
sys.stdin.readline()
`, 0o644)
	for _, mode := range []string{"clock", "flood"} {
		ss := startInstances(b, r, 3, "--passenv=PATH", "/usr/bin/python3", prog, mode)
		path := "/" + mode
		var cs []*websocket.Conn
		for _, s := range ss {
			c := dial(b, s.URL(path))
			c.SetReadLimit(1 << 20)
			cs = append(cs, c)
		}
		time.Sleep(500 * time.Millisecond) // all three read the stream
		writeText(b, cs[0], "go")          // cs[0]'s instance owns the group
		if mode == "clock" {
			var delays []time.Duration
			for range 2000 {
				_, msg, err := cs[1].Read(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				at := time.Now().UnixNano()
				sent, _ := strconv.ParseInt(string(msg), 10, 64)
				delays = append(delays, time.Duration(at-sent))
			}
			slices.Sort(delays)
			b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "p99-µs")
			b.Logf("delay to a client on another instance: p50 %v, p99 %v", delays[len(delays)/2], delays[len(delays)*99/100])
			continue
		}
		var wg sync.WaitGroup
		rates := make([]float64, len(cs))
		for i, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var start time.Time
				for n := range 200000 {
					_, msg, err := c.Read(context.Background())
					if err != nil {
						b.Errorf("client %d: %v after %d", i, err, n)
						return
					}
					if n == 0 {
						start = time.Now()
					}
					if want := fmt.Sprintf("%013d", n); !strings.HasPrefix(string(msg), want) {
						b.Errorf("client %d: got %.13s, want %s", i, msg, want)
						return
					}
				}
				rates[i] = 199999 / time.Since(start).Seconds()
			}()
		}
		wg.Wait()
		b.ReportMetric(slices.Min(rates), "msgs/s")
		b.Logf("throughput per client (3 instances): %.0f msgs/s (slowest of %v)", slices.Min(rates), rates)
	}
}
