//go:build linux

// Command soak runs wsbridge for a long while under a random mix of
// clients over every session kind at once (pipe, --pty, --terminal,
// --terminal --shared, --broadcast, --broadcast --envelope, and
// --broadcast --redis on two daemons when redis-server is installed):
// clients join, exchange numbered messages, and leave in every way real
// clients do (a clean close, a reset, a FIN, a reset in the middle of a
// frame, a reset after they stopped reading, a close whose answer they
// never read). At the end it compares each daemon's descriptors,
// goroutines, resident memory and children with the start, and counts the
// clients that saw a message out of order, twice, or not at all while
// their group was healthy. Run it from the repository root:
//
//	go run ./examples/soak -duration 10m
//
// It exits 1 if a daemon holds more than at the start (beyond a small
// leeway) or a client saw a problem.
//
// It runs on Linux only: it reads /proc and ties each daemon to its own
// life with Pdeathsig.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long the clients come and go")
	flag.StringVar(&c.binary, "binary", "", "wsbridge binary to soak (default: build this checkout)")
	flag.IntVar(&c.clients, "clients", 24, "clients connected at a time")
	flag.BoolVar(&c.redis, "redis", true, "soak --broadcast --redis too, if redis-server is installed")
	flag.Uint64Var(&c.seed, "seed", 0, "random seed (default: from the clock)")
	flag.Parse()
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type config struct {
	duration time.Duration
	binary   string
	clients  int
	redis    bool
	seed     uint64
}

// Leeways of a daemon's end over its start: a scrape of /metrics or a
// Redis connection being replaced may be in flight; children must all be
// gone; memory may keep what the heap grew to for the busiest moment.
const (
	fdLeeway        = 2
	goroutineLeeway = 3
	rssLeeway       = 64 << 20
)

// errFailed: the soak ran, and found a leak or a problem.
var errFailed = errors.New("failed: see the report")

func run(c config, out io.Writer) error {
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	dir, err := os.MkdirTemp("", "wsbridge-soak-")
	if err != nil {
		return err
	}
	keepLogs := false
	defer func() {
		if !keepLogs {
			os.RemoveAll(dir)
		}
	}()
	bin := c.binary
	if bin == "" {
		bin = filepath.Join(dir, "wsbridge")
		build := exec.Command("go", "build", "-o", bin, "github.com/wsbridge/wsbridge")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build wsbridge: %w", err)
		}
	}
	kinds, stop, err := startKinds(bin, dir, c.redis)
	defer stop()
	if err != nil {
		return err
	}
	var all []*daemon
	for _, k := range kinds {
		all = append(all, k.daemons...)
	}

	// One client of each kind leaves in each way first, so what a daemon
	// makes once and keeps is in the starting figures.
	warm := &tally{}
	var wg sync.WaitGroup
	for _, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(c.seed, 1))
			for i := range 2 * len(departures) {
				life(k, rng, warm, 200*time.Millisecond)
				if i == 0 && len(warm.examples) > 0 {
					return // the kind does not work at all
				}
			}
		}()
	}
	wg.Wait()
	if len(warm.examples) > 0 {
		keepLogs = true
		return fmt.Errorf("the warm-up failed (daemon logs in %s): %s", dir, strings.Join(warm.examples, "; "))
	}
	startHeld := map[*daemon]holding{}
	for _, d := range all {
		h, err := steady(d)
		if err != nil {
			return err
		}
		startHeld[d] = h
	}
	for _, k := range kinds {
		k.clients.Store(0)
		k.messages.Store(0)
		for i := range k.left {
			k.left[i].Store(0)
		}
	}

	fmt.Fprintf(out, "soak: %v, %d clients at a time, seed %d\n", c.duration, c.clients, c.seed)
	t := &tally{}
	began := time.Now()
	deadline := began.Add(c.duration)
	for w := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(c.seed, uint64(w)+2))
			for time.Now().Before(deadline) {
				k := kinds[rng.IntN(len(kinds))]
				life(k, rng, t, time.Duration(200+rng.IntN(4000))*time.Millisecond)
			}
		}()
	}
	progress := time.NewTicker(time.Minute)
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-progress.C:
			served := int64(0)
			for _, k := range kinds {
				served += k.clients.Load()
			}
			fmt.Fprintf(os.Stderr, "soak: %v, %d clients served\n", time.Since(began).Round(time.Second), served)
		}
	}
	progress.Stop()
	elapsed := time.Since(began)

	leaks := report(out, kinds, startHeld, t, elapsed)
	if leaks || len(t.clients) > 0 {
		keepLogs = true
		fmt.Fprintf(out, "daemon logs kept in %s\n", dir)
		return errFailed
	}
	return nil
}

// steady waits until a daemon's descriptors, goroutines and children hold
// still (three equal readings 200 ms apart) and returns them.
func steady(d *daemon) (holding, error) {
	var last holding
	same := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		h, err := d.holding()
		if err != nil {
			return h, fmt.Errorf("%s: %w", d.name, err)
		}
		if h.fds == last.fds && h.goroutines == last.goroutines && h.children == last.children {
			same++
		} else {
			same = 0
		}
		last = h
		if same == 2 {
			return h, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return last, fmt.Errorf("%s never held still: %+v", d.name, last)
}

// settled waits up to 30 s for a daemon to be back within the leeways of
// start, and returns what it holds then.
func settled(d *daemon, start holding) (holding, bool) {
	var h holding
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var err error
		if h, err = d.holding(); err != nil {
			return h, false
		}
		if h.fds <= start.fds+fdLeeway && h.goroutines <= start.goroutines+goroutineLeeway &&
			h.children == start.children && h.rss <= start.rss+rssLeeway {
			return h, true
		}
	}
	return h, false
}

// report prints the figures and the problems; true if a daemon leaked.
func report(out io.Writer, kinds []*kind, start map[*daemon]holding, t *tally, elapsed time.Duration) bool {
	fmt.Fprintf(out, "ran %v\n\n", elapsed.Round(time.Second))
	fmt.Fprintln(out, "| kind | clients | messages | descriptors | goroutines | RSS MiB | children |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	leaked := false
	left := make([]int64, len(departures))
	for _, k := range kinds {
		for i := range left {
			left[i] += k.left[i].Load()
		}
		for i, d := range k.daemons {
			s := start[d]
			e, ok := settled(d, s)
			mark := ""
			if !ok {
				leaked, mark = true, " LEAK"
			}
			name, clients, msgs := k.name, fmt.Sprint(k.clients.Load()), fmt.Sprint(k.messages.Load())
			if len(k.daemons) > 1 {
				name = fmt.Sprintf("%s (%s)", k.name, d.name)
			}
			if i > 0 {
				clients, msgs = "", ""
			}
			fmt.Fprintf(out, "| %s%s | %s | %s | %d → %d | %d → %d | %d → %d | %d → %d |\n", name, mark, clients, msgs,
				s.fds, e.fds, s.goroutines, e.goroutines, s.rss>>20, e.rss>>20, s.children, e.children)
		}
	}
	var ways []string
	for i, w := range departures {
		ways = append(ways, fmt.Sprintf("%s %d", w, left[i]))
	}
	fmt.Fprintf(out, "\ndepartures: %s\n", strings.Join(ways, ", "))
	var probs []string
	for _, p := range problemKinds {
		probs = append(probs, fmt.Sprintf("%s %d", p, t.clients[p]))
	}
	fmt.Fprintf(out, "clients that saw a message %s\n", strings.Join(probs, ", "))
	fmt.Fprintf(out, "clients that saw their group's program start again while connected: %d\n", t.restarted.Load())
	for _, e := range t.examples {
		fmt.Fprintln(out, "  "+e)
	}
	return leaked
}

// startKinds starts the daemons of every kind.
func startKinds(bin, dir string, withRedis bool) ([]*kind, func(), error) {
	var daemons []*daemon
	var redis *redisServer
	stop := func() {
		for _, d := range daemons {
			d.stop()
		}
		if redis != nil {
			redis.stop()
		}
	}
	// Two writers share the counter's stdout: the loop's echo, and the
	// echo of client messages. That one is sed -u, not cat: it writes each
	// line (at most 1000 bytes) in one write, which a pipe keeps whole,
	// where cat's 32 KiB write of a flood may be split by the pipe with
	// an "n 66" landing inside one of its lines, a line the client then
	// never sees.
	counter := []string{"sh", "-c", `(i=0; while :; do i=$((i+1)); echo "n $i"; sleep 0.05; done) & sed -u ''; kill $!`}
	envelopeEcho := []string{"sed", "-u", "-n", `s/^{"client":"\([^"]*\)","data":\(.*\)}$/{"to":["\1"],"data":\2}/p`}
	specs := []struct {
		k    *kind
		args []string
	}{
		{&kind{name: "pipe", flood: 16}, []string{"cat"}},
		{&kind{name: "pty", flood: 16}, []string{"--pty", "cat"}},
		{&kind{name: "terminal", proto: "wsbridge.tty.v1", terminal: true, flood: 16}, []string{"--terminal", "--writable", "cat"}},
		{&kind{name: "shared terminal", proto: "wsbridge.tty.v1", terminal: true, shared: true}, []string{"--terminal", "--writable", "--shared", "cat"}},
		{&kind{name: "broadcast", counter: true, solo: true, flood: 4}, append([]string{"--broadcast"}, counter...)},
		{&kind{name: "broadcast envelope", flood: 16}, append([]string{"--broadcast", "--envelope"}, envelopeEcho...)},
	}
	var kinds []*kind
	for _, s := range specs {
		d, err := start(bin, dir, s.k.name, s.args...)
		if err != nil {
			return nil, stop, err
		}
		daemons = append(daemons, d)
		s.k.daemons = []*daemon{d}
		kinds = append(kinds, s.k)
	}
	if withRedis {
		var err error
		redis, err = startRedis()
		switch {
		case errors.Is(err, exec.ErrNotFound):
			fmt.Fprintln(os.Stderr, "soak: no redis-server: --redis is not soaked")
		case err != nil:
			return nil, stop, err
		default:
			k := &kind{name: "broadcast redis", counter: true, flood: 4}
			for _, name := range []string{"a", "b"} {
				d, err := start(bin, dir, name, append([]string{"--broadcast", "--redis=redis://" + redis.addr + "/0", "--lease=2s"}, counter...)...)
				if err != nil {
					return nil, stop, err
				}
				daemons = append(daemons, d)
				k.daemons = append(k.daemons, d)
			}
			kinds = append(kinds, k)
		}
	}
	return kinds, stop, nil
}
