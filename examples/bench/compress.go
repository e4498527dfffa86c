//go:build unix

package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The compression benchmark (-figures=compress): a JSON feed broadcast to
// many clients that offer permessage-deflate, with --compress off, without
// context takeover and with it. Per mode: bytes on the wire per delivered
// message, the daemon's CPU (with the feed's) per output line and per
// delivery, and its memory per client once the feed has run.

// compressModes are the daemon flags compared, by column name.
var compressModes = []struct{ name, flag string }{
	{"off", ""},
	{"no-context-takeover", "--compress"},
	{"context-takeover", "--compress=context-takeover"},
}

// feedLine is the i-th message of the feed: a ticker of 12 symbols as
// JSON, about 900 bytes, its figures changing from line to line.
func feedLine(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"seq":%d,"time":"2026-12-06T17:%02d:%02d.%03dZ","ticks":[`, i, i/60000%60, i/1000%60, i%1000)
	for s := 0; s < 12; s++ {
		if s > 0 {
			b.WriteByte(',')
		}
		v := i*7919 + s*104729
		fmt.Fprintf(&b, `{"symbol":"SYM%02d","bid":%d.%02d,"ask":%d.%02d,"volume":%d,"change":"%+d.%d%%"}`,
			s, 100+v%900, v%100, 101+v%900, (v/7)%100, 1000+v%99991, v%7-3, v%10)
	}
	b.WriteString("]}\n")
	return b.String()
}

// serveFeed is the feed program (-serve=feed): it waits for a line on
// stdin (the go), writes lines JSON lines 1 ms apart, then waits for a
// second line (the end) before it exits.
func serveFeed(lines int) error {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; i < lines; i++ {
		out.WriteString(feedLine(i))
		out.Flush()
		time.Sleep(time.Millisecond)
	}
	_, err := in.ReadString('\n')
	if err == io.EOF {
		err = nil
	}
	return err
}

type compressResult struct {
	wirePerMsg    float64 // bytes on the wire per delivered message
	cpuPerLine    float64 // µs of daemon (and feed) CPU per output line
	cpuPerDeliver float64 // µs per message delivered to one client
	kbPerClient   float64 // RSS per client after the feed
}

// measureCompressAll runs rounds alternating the modes and prints the table.
func measureCompressAll(c config, binary string, own bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	const lines = 1000
	var names []string
	vals := map[string]map[string][]float64{}
	for _, m := range compressModes {
		names = append(names, m.name)
		vals[m.name] = map[string][]float64{}
	}
	for round := 0; round < c.rounds; round++ {
		for k := range compressModes {
			m := compressModes[(k+round)%len(compressModes)]
			fmt.Fprintf(os.Stderr, "round %d of %d: %s, %d clients\n", round+1, c.rounds, m.name, c.clients)
			args := []string{"--broadcast", "--loglevel=error", "--client-queue=16777216"}
			if m.flag != "" {
				args = append(args, m.flag)
			}
			s := spec{name: "wsbridge-" + m.name, ws: true, argv: func(addr string) []string {
				host, port, _ := net.SplitHostPort(addr)
				return append(append([]string{binary, "--address=" + host, "--port=" + port}, args...), self, "-serve=feed", fmt.Sprint("-lines=", lines))
			}}
			res, err := measureCompress(s, own, c.clients, lines)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			vals[m.name]["wire"] = append(vals[m.name]["wire"], res.wirePerMsg)
			vals[m.name]["line"] = append(vals[m.name]["line"], res.cpuPerLine)
			vals[m.name]["deliver"] = append(vals[m.name]["deliver"], res.cpuPerDeliver)
			vals[m.name]["rss"] = append(vals[m.name]["rss"], res.kbPerClient)
			kb, err := measurePipeRSS(binary, m.flag, own, 200)
			if err != nil {
				return fmt.Errorf("%s, pipe sessions: %w", m.name, err)
			}
			vals[m.name]["pipe"] = append(vals[m.name]["pipe"], kb)
		}
	}
	fmt.Printf("JSON feed of %d lines of about %d bytes, 1 ms apart, to %d broadcast clients offering permessage-deflate. Medians of %d alternating rounds (range in brackets).\n\n",
		lines, len(feedLine(1))-1, c.clients, c.rounds)
	fmt.Printf("| figure | unit | %s |\n|%s\n", strings.Join(names, " | "), strings.Repeat(" --- |", len(names)+2))
	for _, row := range []struct{ key, label, unit string }{
		{"wire", "bytes on the wire per delivered message (frame included)", "B"},
		{"line", "CPU per output line, daemon + feed, all clients", "µs"},
		{"deliver", "CPU per message delivered to one client", "µs"},
		{"rss", "daemon RSS per client, after the feed", "KB"},
		{"pipe", "daemon RSS per pipe session (cat) after one echo of a line, 200 sessions", "KB"},
	} {
		cells := []string{row.label, row.unit}
		for _, n := range names {
			cells = append(cells, cell(vals[n][row.key]))
		}
		fmt.Printf("| %s |\n", strings.Join(cells, " | "))
	}
	return nil
}

// measureCompress starts a daemon, attaches n clients to one group, lets the
// feed run, and measures.
func measureCompress(s spec, own bool, n, lines int) (compressResult, error) {
	t, err := s.start(own)
	if err != nil {
		return compressResult{}, err
	}
	defer t.stop()
	rss0 := rssKB(t.pid())
	clients := make([]*feedClient, n)
	for i := range clients {
		fc, err := dialFeed(t.addr)
		if err != nil {
			for _, c := range clients[:i] {
				c.conn.Close()
			}
			return compressResult{}, fmt.Errorf("client %d: %w", i, err)
		}
		clients[i] = fc
	}
	var wg sync.WaitGroup
	var done atomic.Int64
	for _, fc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc.readAll(lines, &done)
		}()
	}
	time.Sleep(200 * time.Millisecond) // the last join reaches the group
	cpu0 := procCPU(t.pid())
	clients[0].send("go\n")
	deadline := time.Now().Add(5 * time.Minute)
	for done.Load() < int64(n) {
		if time.Now().After(deadline) {
			return compressResult{}, fmt.Errorf("only %d of %d clients got the whole feed", done.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rss1 := rssKB(t.pid())
	clients[0].send("end\n")
	wg.Wait()
	waitReaped(t.pid())
	cpu := procCPU(t.pid()) - cpu0
	var wire, msgs int64
	for _, fc := range clients {
		wire += fc.wire
		msgs += fc.msgs
		fc.conn.Close()
	}
	if msgs != int64(n*lines) {
		return compressResult{}, fmt.Errorf("%d messages delivered, want %d", msgs, n*lines)
	}
	return compressResult{
		wirePerMsg:    float64(wire) / float64(msgs),
		cpuPerLine:    cpu / float64(lines) * 1e6,
		cpuPerDeliver: cpu / float64(msgs) * 1e6,
		kbPerClient:   float64(rss1-rss0) / float64(n),
	}, nil
}

// feedClient is a raw WebSocket client that offers permessage-deflate and
// counts the bytes of the data frames it gets; it does not inflate them (a
// browser would, on its own CPU).
type feedClient struct {
	conn       net.Conn
	br         *bufio.Reader
	wire, msgs int64
}

func dialFeed(addr string) (*feedClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "GET /feed HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n", addr)
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	return &feedClient{conn: conn, br: br}, nil
}

// send sends a masked text frame (the mask is all zeros: the bytes stay
// as they are).
func (fc *feedClient) send(s string) error {
	h := []byte{0x81, 0x80 | byte(len(s))}
	if len(s) >= 126 {
		h = binary.BigEndian.AppendUint16([]byte{0x81, 0x80 | 126}, uint16(len(s)))
	}
	_, err := fc.conn.Write(append(append(h, 0, 0, 0, 0), s...))
	return err
}

// measurePipeRSS opens n pipe sessions through cat, each echoing one feed
// line, and returns the daemon's RSS per session while they stay open.
func measurePipeRSS(binary, flag string, own bool, n int) (float64, error) {
	s := spec{name: "wsbridge-pipe", ws: true, argv: func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		argv := []string{binary, "--address=" + host, "--port=" + port, "--loglevel=error", "--maxforks=0"}
		if flag != "" {
			argv = append(argv, flag)
		}
		return append(argv, "cat")
	}}
	t, err := s.start(own)
	if err != nil {
		return 0, err
	}
	defer t.stop()
	rss0 := rssKB(t.pid())
	line := feedLine(1)
	for i := 0; i < n; i++ {
		fc, err := dialFeed(t.addr)
		if err != nil {
			return 0, fmt.Errorf("pipe session %d: %w", i, err)
		}
		defer fc.conn.Close()
		if err := fc.send(line); err != nil {
			return 0, err
		}
		var h [2]byte
		if _, err := io.ReadFull(fc.br, h[:]); err != nil {
			return 0, fmt.Errorf("pipe session %d: echo: %w", i, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the last echoes leave
	return float64(rssKB(t.pid())-rss0) / float64(n), nil
}

// readAll reads frames until the connection ends, counting data frames and
// their bytes; done counts the clients that have had every line.
func (fc *feedClient) readAll(lines int, done *atomic.Int64) {
	counted := false
	for {
		var h [2]byte
		if _, err := io.ReadFull(fc.br, h[:]); err != nil {
			return
		}
		size := int64(2)
		n := int64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			io.ReadFull(fc.br, b[:])
			n, size = int64(binary.BigEndian.Uint16(b[:])), size+2
		case 127:
			var b [8]byte
			io.ReadFull(fc.br, b[:])
			n, size = int64(binary.BigEndian.Uint64(b[:])), size+8
		}
		if _, err := fc.br.Discard(int(n)); err != nil {
			return
		}
		if op := h[0] & 0x0f; op == 1 || op == 2 {
			fc.wire += size + n
			fc.msgs++
		} else if op == 8 {
			return
		}
		if !counted && fc.msgs == int64(lines) {
			counted = true
			done.Add(1)
		}
	}
}

// runCompress prints the compression figures for each setup.
func runCompress(c config, binary string, owns []bool) error {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("%s, %s, load average at start %s\n", time.Now().Format("2006-01-02 15:04"), goVersion(), strings.Join(strings.Fields(string(load))[:3], " "))
	for _, own := range owns {
		label := "server in its own session (setsid)"
		if !own {
			label = "server in the client's session"
		}
		fmt.Printf("\n### %s\n\n", label)
		if err := measureCompressAll(c, binary, own); err != nil {
			return err
		}
	}
	return nil
}
