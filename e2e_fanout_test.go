//go:build unix

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/gatetest/rawws"
)

// One group holds 10,000 clients (issue 19): every one of them gets a line
// the program writes, the daemon keeps no goroutine per idle client beyond
// the one that reads it (its writers are the group's few shards), and once
// they all leave, its descriptors, goroutines and children are back to
// what it held before.
func TestBroadcastTenThousandClients(t *testing.T) {
	n := 10000
	if raceEnabled {
		// The race detector stops a program at 8,128 live goroutines;
		// each client has its reader.
		n = 4000
	}
	needDescriptors(t, uint64(n)+500)
	d := watch(t, "broadcast", "--broadcast", "--loglevel=error", "cat")
	d.rssLeeway = 1 << 30 // the heap that held them is given back minutes later
	d.baseline(t)

	start := time.Now()
	clients := make([]*rawWS, n)
	var err error
	if clients[0], err = dialRaw(d.s.addr, "/crowd", "", 0); err != nil { // starts the group
		t.Fatal(err)
	}
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.TCP.Close()
			}
		}
	}()
	eachClient(t, clients[1:], func(i int, _ *rawWS) error {
		c, err := dialRaw(d.s.addr, "/crowd", "", 0)
		clients[1+i] = c
		return err
	})
	t.Logf("%d clients connected in %v", n, time.Since(start).Round(time.Millisecond))
	// Wait until the daemon has attached them all: each holds a reader.
	deadline := time.Now().Add(testTimeout)
	for {
		h, err := d.now()
		if err != nil {
			t.Fatal(err)
		}
		if h.fds >= d.base.fds+n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon holds %v with %d clients connected", h, n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	sent := time.Now()
	if err := clients[0].Send(rawws.OpText, []byte("to every one")); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	eachClient(t, clients, func(i int, c *rawWS) error {
		if err := c.await("to every one", testTimeout); err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		got.Add(1)
		return nil
	})
	t.Logf("the line reached all %d clients in %v", got.Load(), time.Since(sent).Round(time.Millisecond))
	// Idle again: what the daemon holds is its clients' connections and
	// readers, not a writer per client.
	h := d.settledAbove(t, n)
	if extra := h.goroutines - d.base.goroutines - n; extra > 64 {
		t.Errorf("idle with %d clients, the daemon runs %d goroutines beyond one per client (baseline %v, now %v)", n, extra, d.base, h)
	}
	t.Logf("held: %v, %.1f KB RSS per client", h, float64(h.rss-d.base.rss)/float64(n)/1024)

	closed := time.Now()
	eachClient(t, clients, func(i int, c *rawWS) error {
		c.closeFrame()
		return c.TCP.Close()
	})
	clients = nil
	d.settled(t, "10,000 clients left", time.Minute)
	t.Logf("back to the baseline %v after the clients left", time.Since(closed).Round(time.Millisecond))
}

// eachClient runs fn for every client, 64 at a time, and fails the test
// with the first error.
func eachClient(t *testing.T, clients []*rawWS, fn func(i int, c *rawWS) error) {
	t.Helper()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := atomic.Int64{}
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(clients) {
					return
				}
				if err := fn(i, clients[i]); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// settledAbove waits until the daemon's goroutines hold still (three equal
// readings) with n clients attached, and returns what it holds.
func (w *watched) settledAbove(t *testing.T, n int) held {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	var last held
	for same := 0; same < 2; {
		time.Sleep(100 * time.Millisecond)
		h, err := w.now()
		if err != nil {
			t.Fatal(err)
		}
		if h.goroutines == last.goroutines && h.fds == last.fds {
			same++
		} else {
			same = 0
		}
		last = h
		if time.Now().After(deadline) {
			t.Fatalf("never settled with %d clients; last %v", n, h)
		}
	}
	return last
}

// needDescriptors makes sure this process may open n descriptors, raising
// its soft limit up to the hard one if need be (the daemon raises its own
// likewise, as Go does at startup); it skips the test when the hard limit
// is lower (fails under CI).
func needDescriptors(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	// Rlimit's fields are int64 on some systems (FreeBSD), uint64 on others.
	if uint64(rl.Cur) >= n {
		return
	}
	if uint64(rl.Max) < n {
		skipUnlessCI(t, fmt.Sprintf("the hard limit on open files is %d; this test needs %d (ulimit -Hn)", rl.Max, n))
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		skipUnlessCI(t, fmt.Sprintf("raising the limit on open files to %d: %v", rl.Max, err))
	}
}

// Every form of output holds across the writer shards: in a group of more
// clients than the flusher writes itself, plain clients, compressed ones
// without and with context takeover, and clients of wsbridge.broadcast.v1
// (compressed or not, one of them resuming with ?since=) each get every
// line once, in order, whether they joined before the output or while it
// flowed (after the --replay). A context-takeover client inflates each
// message with the ones before it: were its batches compressed out of
// order, or by two goroutines at once, its stream would not inflate.
func TestBroadcastShardsMixForms(t *testing.T) {
	t.Parallel()
	const clients, lines = 260, 150
	s := startServer(t, "--broadcast", "--compress=context-takeover", "--replay=3", "cat")
	u := s.URL("/mix")
	feed := jsonFeed(600) // compressed by every compressing client
	line := func(i int) string { return fmt.Sprintf("%d %s", i, feed) }
	sender := dial(t, u)

	kinds := []struct {
		name string
		mode websocket.CompressionMode
		v1   bool
	}{
		{"plain", websocket.CompressionDisabled, false},
		{"no-context-takeover", websocket.CompressionNoContextTakeover, false},
		{"context-takeover", websocket.CompressionContextTakeover, false},
		{"v1 context-takeover", websocket.CompressionContextTakeover, true},
		{"v1", websocket.CompressionDisabled, true},
	}
	dialKind := func(i int, query string) (*websocket.Conn, error) {
		k := kinds[i%len(kinds)]
		opts := &websocket.DialOptions{CompressionMode: k.mode}
		if k.v1 {
			opts.Subprotocols = []string{v1Proto}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, _, err := websocket.Dial(ctx, u+query, opts)
		if err != nil {
			return nil, fmt.Errorf("%s client %d: %w", k.name, i, err)
		}
		c.SetReadLimit(-1)
		return c, nil
	}
	// readLines reads consecutive lines up to the last, from the first it
	// gets (or the one after since), and returns the last v1 message.
	readLines := func(i int, c *websocket.Conn, since int, stopAt int) (v1Msg, error) {
		k := kinds[i%len(kinds)]
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		prev, last := since, v1Msg{}
		for prev != stopAt {
			_, b, err := c.Read(ctx)
			if err != nil {
				return last, fmt.Errorf("%s client %d after line %d: %w", k.name, i, prev, err)
			}
			data := string(b)
			if k.v1 {
				var m v1Msg
				if err := json.Unmarshal(b, &m); err != nil {
					return last, fmt.Errorf("%s client %d after line %d: %q: %w", k.name, i, prev, b, err)
				}
				if m.Event == "owner" {
					continue
				}
				if m.Offset <= last.Offset {
					return last, fmt.Errorf("%s client %d: offset %d after %d", k.name, i, m.Offset, last.Offset)
				}
				data, last = m.Data, m
			}
			n, err := strconv.Atoi(data[:max(0, strings.IndexByte(data, ' '))])
			if err != nil || data != line(n) || (prev != 0 && n != prev+1) {
				return last, fmt.Errorf("%s client %d: got %.20q after line %d", k.name, i, data, prev)
			}
			prev = n
		}
		return last, nil
	}

	var wg sync.WaitGroup
	errs := make(chan error, clients+1)
	early := make(chan struct{}, clients)
	dialing := make(chan struct{}, 8) // a few dials at a time
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i >= clients/2 { // the rest join while the lines flow
				time.Sleep(time.Duration(i-clients/2) * 4 * time.Millisecond)
			}
			dialing <- struct{}{}
			c, err := dialKind(i, "")
			<-dialing
			if i < clients/2 {
				early <- struct{}{}
			}
			if err != nil {
				errs <- err
				return
			}
			defer c.CloseNow()
			_, err = readLines(i, c, 0, lines)
			errs <- err
		}()
	}
	// A v1 client with context takeover leaves halfway and resumes after
	// the last offset it got, while the lines flow.
	resumer, err := dialKind(3, "")
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		last, err := readLines(3, resumer, 0, lines/2)
		resumer.CloseNow()
		if err != nil {
			errs <- err
			return
		}
		c, err := dialKind(3, fmt.Sprintf("?since=%d&epoch=%s", last.Offset, url.QueryEscape(last.Epoch)))
		if err != nil {
			errs <- err
			return
		}
		defer c.CloseNow()
		_, err = readLines(3, c, lines/2, lines)
		errs <- err
	}()
	for range clients / 2 {
		<-early
	}
	for i := 1; i <= lines; i++ {
		writeText(t, sender, line(i))
		if got := readText(t, sender); got != line(i) {
			t.Fatalf("sender got %.20q, want line %d", got, i)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
