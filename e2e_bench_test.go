package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// benchFileSize is the size of the file `cat` sends through the terminal.
const benchFileSize = 100 << 20

// benchFile writes a text file of about size bytes, lines of 79 printable
// characters, and returns its path and how many bytes it becomes on a
// terminal (each "\n" turns into "\r\n").
func benchFile(b *testing.B, size int) (string, int) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := []byte("the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVW\n")
	lines := size / len(line)
	for i := 0; i < lines; i++ {
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path, lines * (len(line) + 1)
}

// BenchmarkTerminalThroughput measures `cat` of a 100 MB file through
// --terminal: to a Go client reading every binary frame, and to headless
// Chromium's terminal page when it is installed (see
// static/tests/terminal.throughput.mjs). It reports MB/s of terminal bytes.
func BenchmarkTerminalThroughput(b *testing.B) {
	path, want := benchFile(b, benchFileSize)
	b.Run("go-client", func(b *testing.B) {
		s := startServer(b, "--terminal", "--writable", "cat", path)
		b.SetBytes(int64(want))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c := dialOpts(b, s.URL("/"), &websocket.DialOptions{Subprotocols: []string{ttyProto}})
			got := 0
			for {
				typ, data, err := c.Read(context.Background())
				if err != nil {
					if code, _ := closeStatus(err); code != websocket.StatusNormalClosure {
						b.Fatalf("close: %v", err)
					}
					break
				}
				if typ == websocket.MessageBinary {
					got += len(data)
				}
			}
			if got != want {
				b.Fatalf("got %d bytes, want %d", got, want)
			}
		}
	})
	b.Run("browser", func(b *testing.B) {
		node := browserTestTools(b)
		s := startServer(b, "--terminal", "--writable", "cat", path)
		b.SetBytes(int64(want))
		b.ResetTimer()
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			out, err := exec.CommandContext(ctx, node, filepath.Join("static", "tests", "terminal.throughput.mjs"),
				s.HTTPURL("/"), strconv.Itoa(want)).CombinedOutput()
			cancel()
			if err != nil {
				b.Fatalf("throughput script: %v\n%s", err, out)
			}
			// The page's own clock: from the socket opening to the last
			// byte parsed by xterm.js, without the browser's start.
			m := regexp.MustCompile(`(?m)^elapsed_ms (\d+)$`).FindSubmatch(out)
			if m == nil {
				b.Fatalf("no elapsed_ms in:\n%s", out)
			}
			ms, _ := strconv.Atoi(string(m[1]))
			elapsed += time.Duration(ms) * time.Millisecond
			b.Logf("%s", bytes.TrimSpace(out))
		}
		b.StopTimer()
		b.ReportMetric(float64(want)*float64(b.N)/1e6/elapsed.Seconds(), "page-MB/s")
	})
}

// browserTestsNeed is what the browser tests say when they are skipped.
var browserTestsNeed = fmt.Sprintf("browser tests: they need node, %s (npm ci --prefix static) and %s (apt-get install chromium)",
	filepath.Join("static", "node_modules", "playwright-core"), chromiumPath())

// browserTestTools returns node's path, skipping (or failing, in CI) when
// node, playwright-core or Chromium is missing.
func browserTestTools(tb testing.TB) string {
	tb.Helper()
	if portableBuild {
		// The pages are the same JavaScript in both builds, and what they
		// drive of the daemon the protocol tests drive too: the browser
		// tests run once, in the default build, to keep CI within its time.
		tb.Skip("browser tests run in the default build only")
	}
	pw := filepath.Join("static", "node_modules", "playwright-core")
	_, errPW := os.Stat(pw)
	_, errChromium := os.Stat(chromiumPath())
	node, errNode := exec.LookPath("node")
	if errPW != nil || errChromium != nil || errNode != nil {
		skipGroupUnlessCI(tb, browserTestsNeed, "")
	}
	return node
}

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

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
