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
	"strconv"
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

// browserTestTools returns node's path, skipping (or failing, in CI) when
// node, playwright-core or Chromium is missing.
func browserTestTools(tb testing.TB) string {
	tb.Helper()
	pw := filepath.Join("static", "node_modules", "playwright-core")
	_, errPW := os.Stat(pw)
	_, errChromium := os.Stat(chromiumPath())
	node, errNode := exec.LookPath("node")
	if errPW != nil || errChromium != nil || errNode != nil {
		msg := fmt.Sprintf("needs node, %s (npm ci --prefix static) and %s (apt-get install chromium)", pw, chromiumPath())
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return node
}

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}
