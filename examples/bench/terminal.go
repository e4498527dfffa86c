//go:build unix

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/coder/websocket"
)

var (
	figTerm    = &figure{"terminal: cat of 100 MB to one client, --reconnect (screen state kept)", "MB/s", true, "", "≥ 0.9x the build before the screen state"}
	figTermCPU = &figure{"CPU per MB, daemon + cat, --reconnect", "ms", false, "", ""}
	figTermRaw = &figure{"terminal: cat of 100 MB, no --reconnect or --shared (no screen state)", "MB/s", true, "", ""}
)

func init() { figures = append(figures, figTerm, figTermCPU, figTermRaw) }

// terminalFileSize is the file cat sends through the terminal: the size of
// BenchmarkTerminalThroughput's.
const terminalFileSize = 100 << 20

// measureTerminalRounds measures the browser terminal's throughput: cat of
// a 100 MB file of text lines to a client reading every binary frame, with
// --reconnect (the session keeps its screen state for a later client) and
// without. wsbridge and the baseline take turns within each round.
func measureTerminalRounds(r *results, c config, all []spec, own bool) error {
	dir, err := os.MkdirTemp("", "wsbridge-bench-terminal")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "big.txt")
	if err := writeTextFile(file, terminalFileSize); err != nil {
		return err
	}
	variants := []struct {
		fig, cpu *figure
		flags    []string
	}{
		{figTerm, figTermCPU, []string{"--reconnect=1m"}},
		{figTermRaw, nil, nil},
	}
	for _, v := range variants {
		var targets []*target
		for _, s := range all {
			if s.name != "wsbridge" && s.name != "baseline" {
				continue
			}
			binary := s.argv("127.0.0.1:0")[0]
			ts := spec{name: s.name, ws: true, argv: func(addr string) []string {
				host, port, _ := net.SplitHostPort(addr)
				args := []string{binary, "--address=" + host, "--port=" + port, "--loglevel=error", "--terminal"}
				return append(append(args, v.flags...), "cat", file)
			}}
			t, err := ts.start(own)
			if err != nil {
				return err
			}
			defer t.stop()
			targets = append(targets, t)
		}
		for round := 0; round < c.rounds; round++ {
			fmt.Fprintf(os.Stderr, "terminal %s: round %d of %d\n", v.fig.unit, round+1, c.rounds)
			for k := range targets {
				t := targets[(k+round)%len(targets)]
				cpu0 := procCPU(t.pid())
				start := time.Now()
				n, err := readTerminal(t.url())
				if err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
				elapsed := time.Since(start)
				waitReaped(t.pid())
				cpu := procCPU(t.pid()) - cpu0
				r.add(v.fig, t.name, float64(n)/1e6/elapsed.Seconds())
				if v.cpu != nil {
					r.add(v.cpu, t.name, cpu*1000/(float64(n)/1e6))
				}
			}
		}
	}
	return nil
}

// readTerminal opens a terminal session and reads its output until the
// close, returning the bytes of output.
func readTerminal(url string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"wsbridge.tty.v1"}})
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	n := 0
	for {
		typ, b, err := c.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return n, nil
			}
			return n, err
		}
		if typ == websocket.MessageBinary {
			n += len(b)
		}
	}
}

func writeTextFile(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := []byte("the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVW\n")
	for i := 0; i < size/len(line); i++ {
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
