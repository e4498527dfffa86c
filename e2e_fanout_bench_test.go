//go:build unix

package main_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBroadcastFanout measures --broadcast fanning 64-byte lines out
// to 1,000 and 10,000 clients of one group, against an in-process fan-out
// (a Go program writing the same frames to the same clients, without a
// child) and, with -fanout.baseline, another build of wsbridge. It reports
// deliveries/s, the daemon's CPU per delivery (utime+stime of the daemon
// and its live children, /proc/PID/stat, over the run), the delay from the
// program's write to a client's receipt (p50, p99) at two paces, and the
// daemon's memory per idle client. Run:
//
//	go test -run '^$' -bench BroadcastFanout -benchtime 1x -timeout 60m . \
//	    [-args -fanout.baseline=OLD_BINARY -fanout.rounds=4 -fanout.clients=1000,10000]
//
// Each server runs in a session of its own (setsid); the clients are plain
// goroutines of this process speaking just enough WebSocket to read.
// Rounds alternate between the servers, rotating which goes first; each
// figure is the median of the rounds, with the range.
func BenchmarkBroadcastFanout(b *testing.B) {
	fanout := buildFanout(b)
	targets := []fanoutTarget{
		{"wsbridge", func() (string, int, func()) { return startFanoutDaemon(b, wsbridgeBinary(b), fanout) }},
		{"inprocess", nil},
	}
	if *fanoutBaseline != "" {
		targets = append(targets, fanoutTarget{"baseline", func() (string, int, func()) { return startFanoutDaemon(b, *fanoutBaseline, fanout) }})
	}
	for _, field := range strings.Split(*fanoutClients, ",") {
		n, err := strconv.Atoi(field)
		if err != nil || n < 2 {
			b.Fatalf("-fanout.clients: %q is not a number of clients", field)
		}
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			lines := 5_000_000 / n // deliveries per throughput round: 5M
			// The delay at two paces: 50,000 deliveries/s (5 lines/s to
			// 10,000 clients), and 50 lines/s whatever the clients.
			paces := []int{50}
			if pace := max(1, 50_000/n); pace != 50 {
				paces = append([]int{pace}, paces...)
			}
			figures := map[string][]float64{}
			for round := range *fanoutRounds {
				load, _ := os.ReadFile("/proc/loadavg")
				fmt.Printf("clients=%d round %d of %d, load average %s\n", n, round+1, *fanoutRounds, strings.Join(strings.Fields(string(load))[:3], " "))
				for k := range targets {
					tgt := targets[(k+round)%len(targets)]
					start := tgt.start
					if start == nil {
						start = func() (string, int, func()) { return startFanoutBaseline(b, fanout, n) }
					}
					addr, pid, stop := start()
					r := runFanout(b, addr, pid, n, lines, 0)
					stop()
					figures[tgt.name+"-deliveries/s"] = append(figures[tgt.name+"-deliveries/s"], r.perSecond)
					figures[tgt.name+"-CPU-us/delivery"] = append(figures[tgt.name+"-CPU-us/delivery"], r.cpuPerDelivery)
					figures[tgt.name+"-KB/client"] = append(figures[tgt.name+"-KB/client"], r.rssPerClient)
					for _, rate := range paces {
						addr, pid, stop = start()
						r = runFanout(b, addr, pid, n, rate*5, rate)
						stop()
						pace := fmt.Sprintf("%dlines/s", rate)
						figures[tgt.name+"-p50-ms@"+pace] = append(figures[tgt.name+"-p50-ms@"+pace], r.p50)
						figures[tgt.name+"-p99-ms@"+pace] = append(figures[tgt.name+"-p99-ms@"+pace], r.p99)
						figures[tgt.name+"-CPU-us/delivery@"+pace] = append(figures[tgt.name+"-CPU-us/delivery@"+pace], r.cpuPerDelivery)
					}
				}
			}
			units := make([]string, 0, len(figures))
			for unit := range figures {
				units = append(units, unit)
			}
			slices.Sort(units)
			for _, unit := range units {
				report(b, fmt.Sprintf("clients=%d ", n), unit, figures[unit])
			}
		})
	}
}

var (
	fanoutBaseline = flag.String("fanout.baseline", "", "BenchmarkBroadcastFanout: another wsbridge binary to measure beside this checkout's")
	fanoutRounds   = flag.Int("fanout.rounds", 3, "BenchmarkBroadcastFanout: alternating rounds per figure")
	fanoutClients  = flag.String("fanout.clients", "1000,10000", "BenchmarkBroadcastFanout: comma-separated group sizes")
)

// fanoutTarget is a server under test: a wsbridge build, or (start nil)
// the in-process fan-out.
type fanoutTarget struct {
	name  string
	start func() (addr string, pid int, stop func())
}

// report gives the median of xs as the metric, and prints it with the
// range (to stdout: a benchmark's log is cut after a few lines).
func report(b *testing.B, prefix, unit string, xs []float64) {
	slices.Sort(xs)
	b.ReportMetric(xs[len(xs)/2], unit)
	fmt.Printf("%s%s: median %.4g, range %.4g-%.4g, rounds %.4g\n", prefix, unit, xs[len(xs)/2], xs[0], xs[len(xs)-1], xs)
}

type fanoutResult struct {
	perSecond      float64 // deliveries per second
	p50, p99       float64 // ms from the program's write to a client's receipt
	rssPerClient   float64 // KB of the daemon's RSS per idle client
	cpuPerDelivery float64 // µs of the server's CPU (and its children's) per delivery
}

// runFanout connects n clients to addr, has the program write lines (at
// rate lines/s; 0: at once), and measures. pid is the serving process, for
// its RSS and CPU.
func runFanout(b *testing.B, addr string, pid, n, lines, rate int) fanoutResult {
	b.Helper()
	clients := make([]*fanoutClient, n)
	clients[0] = dialFanout(b, addr) // starts the group
	time.Sleep(200 * time.Millisecond)
	rss1 := rss(b, pid)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := 1; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			clients[i] = dialFanout(b, addr)
		}()
	}
	wg.Wait()
	time.Sleep(time.Second) // every client attached
	var res fanoutResult
	res.rssPerClient = float64(rss(b, pid)-rss1) / float64(n-1) / 1024
	defer func() {
		for _, c := range clients {
			c.conn.Close()
		}
	}()
	var done sync.WaitGroup
	var received atomic.Int64
	for _, c := range clients {
		done.Add(1)
		go func() {
			defer done.Done()
			received.Add(int64(c.read(lines)))
		}()
	}
	cpu0 := treeCPU(pid)
	start := time.Now()
	clients[0].send(fmt.Sprintf("%d %d", lines, rate))
	done.Wait()
	elapsed := time.Since(start)
	cpu := treeCPU(pid) - cpu0
	if got := received.Load(); got != int64(n*lines) {
		b.Fatalf("%d of %d deliveries arrived", got, n*lines)
	}
	res.perSecond = float64(n*lines) / elapsed.Seconds()
	res.cpuPerDelivery = cpu.Seconds() * 1e6 / float64(n*lines)
	var delays []float64
	for _, c := range clients {
		delays = append(delays, c.delays...)
	}
	slices.Sort(delays)
	res.p50, res.p99 = delays[len(delays)/2], delays[len(delays)*99/100]
	return res
}

// treeCPU is the CPU time (utime+stime, and that of reaped children) of
// pid and of its live descendants.
func treeCPU(pid int) time.Duration {
	var ticks int64
	for _, p := range append(descendants(pid), pid) {
		f, err := procStat(p)
		if err != nil || len(f) < 15 {
			continue
		}
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// fanoutClient speaks just enough WebSocket to send one masked text frame
// and read unmasked ones.
type fanoutClient struct {
	conn   net.Conn
	br     *bufio.Reader
	delays []float64
}

func dialFanout(b *testing.B, addr string) *fanoutClient {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(conn, "GET /feed HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReaderSize(conn, 4096)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		b.Fatalf("handshake: %q %v", status, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	return &fanoutClient{conn: conn, br: br}
}

func (c *fanoutClient) send(msg string) {
	frame := []byte{0x81, 0x80 | byte(len(msg)), 0, 0, 0, 0} // zero mask
	c.conn.Write(append(frame, msg...))
}

// read reads n text frames of "SEQ NANOS ..." and records each delay.
func (c *fanoutClient) read(n int) int {
	c.delays = make([]float64, 0, n)
	payload := make([]byte, 256)
	for i := 0; i < n; i++ {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return i
		}
		size := int(h[1] & 0x7f)
		if size == 126 {
			var l [2]byte
			io.ReadFull(c.br, l[:])
			size = int(binary.BigEndian.Uint16(l[:]))
		}
		if size > len(payload) || h[0]&0x0f != 1 {
			return i
		}
		if _, err := io.ReadFull(c.br, payload[:size]); err != nil {
			return i
		}
		now := time.Now().UnixNano()
		if size < 30 {
			return i
		}
		sent, _ := strconv.ParseInt(string(payload[11:30]), 10, 64) // "SEQ(10) NANOS(19) "
		c.delays = append(c.delays, float64(now-sent)/1e6)
	}
	return n
}

// startFanoutDaemon runs a wsbridge binary --broadcast with the line
// generator, in a session of its own.
func startFanoutDaemon(b *testing.B, binary, fanout string) (string, int, func()) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(binary, "--address=127.0.0.1", "--port="+port, "--loglevel=error",
		"--maxforks=0", "--broadcast", "--client-queue=67108864", fanout, "gen")
	cmd.SysProcAttr = ownSession()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	waitListening(b, addr)
	return addr, cmd.Process.Pid, func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }
}

// startFanoutBaseline runs the in-process fan-out for n clients.
func startFanoutBaseline(b *testing.B, fanout string, n int) (string, int, func()) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	cmd := exec.Command(fanout, "serve", addr, strconv.Itoa(n))
	cmd.SysProcAttr = ownSession()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	waitListening(b, addr)
	return addr, cmd.Process.Pid, func() { cmd.Process.Kill(); cmd.Wait() }
}

func waitListening(b *testing.B, addr string) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	b.Fatalf("nothing listens on %s", addr)
}

// buildFanout builds the line generator and the in-process baseline, a
// standalone program of the standard library only.
func buildFanout(b *testing.B) string {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(fanoutSource), 0o644); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fanout\n\ngo 1.22\n"), 0o644)
	out := filepath.Join(dir, "fanout")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build fanout: %v\n%s", err, msg)
	}
	return out
}

// fanoutSource: "fanout gen" waits for "LINES RATE" on stdin, then writes
// LINES 64-byte lines "SEQ UNIXNANOS ...", in bursts of up to 100 a write,
// RATE a second (0: at once). "fanout serve ADDR N" accepts N WebSocket
// clients, reads "LINES RATE" from the first, and writes the same lines as
// frames framed once, each client with a writer goroutine that drains all
// it has queued in one write: the usual hub, without a child.
const fanoutSource = `package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func lines(count, rate int, emit func(batch []byte)) {
	start := time.Now()
	batch := make([]byte, 0, 100*65)
	for i := 0; i < count; {
		batch = batch[:0]
		for j := 0; j < 100 && i < count; j++ {
			line := fmt.Sprintf("%010d %019d ", i, time.Now().UnixNano())
			for len(line) < 64 {
				line += "x"
			}
			batch = append(batch, line...)
			batch = append(batch, '\n')
			i++
			if rate > 0 {
				break
			}
		}
		emit(batch)
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

func main() {
	if os.Args[1] == "gen" {
		var count, rate int
		fmt.Scan(&count, &rate)
		w := bufio.NewWriterSize(os.Stdout, 100*65)
		lines(count, rate, func(b []byte) { w.Write(b); w.Flush() })
		time.Sleep(time.Hour)
		return
	}
	n, _ := strconv.Atoi(os.Args[3])
	ln, err := net.Listen("tcp", os.Args[2])
	if err != nil {
		panic(err)
	}
	queues := make([]chan []byte, 0, n)
	var first *bufio.Reader
	for len(queues) < n {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			c.Close() // a probe of the port, not a client
			continue
		}
		h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(h[:]))
		if first == nil {
			first = br
		}
		q := make(chan []byte, 256)
		queues = append(queues, q)
		go func() {
			var buf []byte
			for f := range q {
				buf = append(buf[:0], f...)
				for len(q) > 0 {
					buf = append(buf, <-q...)
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	var hdr [6]byte
	first.Read(hdr[:])
	msg := make([]byte, hdr[1]&0x7f)
	first.Read(msg)
	var count, rate int
	fmt.Sscan(string(msg), &count, &rate)
	lines(count, rate, func(b []byte) {
		frames := make([]byte, 0, len(b)/65*67)
		for len(b) > 0 {
			frames = append(frames, 0x81, 64)
			frames = append(frames, b[:64]...)
			b = b[65:]
		}
		for _, q := range queues {
			q <- frames
		}
	})
	time.Sleep(time.Hour)
}
`

// BenchmarkRedisCluster measures a group spread over three instances
// through one redis-server (go test -run '^$' -bench RedisCluster
// -benchtime 1x .):
//   - delay: the program writes its clock (ns) once per 2 ms; a client on
//     another instance than the owner's takes its receipt time: p50 and p99
//     of the difference, over 2,000 messages;
//   - throughput: the program writes 200,000 lines of 64 bytes as fast as it
//     can; three clients (one per instance) read them all: msgs/s (per
//     client) from the first to the last.
