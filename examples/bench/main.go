//go:build unix

// Command bench measures wsbridge against Debian's websocketd, an in-process
// coder/websocket echo (the ceiling) and a bare fork/exec server, all over
// loopback, echoing through cat, and prints the comparison as a Markdown
// table. Run it from the repository root:
//
//	go run ./examples/bench
//
// Each server runs as a process of its own, by default in a session of its
// own (setsid, as systemd starts a service) so the kernel's autogroup
// scheduler splits the machine fairly between it and this load generator;
// -setup=shared (or both) keeps it in this program's session, where it may
// use every core. Rounds alternate between the servers, and each figure is
// the median of the rounds with the range beside it. CPU is the server's
// utime+stime plus that of its reaped children (/proc/PID/stat), so the cost
// of cat is included.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	var (
		serve    = flag.String("serve", "", "internal: run a helper server (ceiling or spawn)")
		listen   = flag.String("listen", "", "internal: the helper server's address")
		cat      = flag.String("cat", "cat", "internal: cat's path for the spawn server")
		setup    = flag.String("setup", "both", "own (servers in sessions of their own), shared (in this program's session) or both")
		rounds   = flag.Int("rounds", 4, "alternating rounds per figure")
		idle     = flag.Int("idle", 1000, "idle sessions held for the memory and descriptor figures")
		capacity = flag.Int("capacity", 6500, "sessions wsbridge must hold, all echoing (0: skip)")
		binary   = flag.String("wsbridge", "", "wsbridge binary to measure (default: build this checkout)")
		baseline = flag.String("baseline", "", "another wsbridge binary to measure beside it, to compare two builds")
		only     = flag.String("only", "", "comma-separated targets to run (wsbridge, baseline, websocketd, ceiling, fork/exec); default all")
		figs     = flag.String("figures", "echo,connect,idle", "comma-separated groups of figures: echo (echo1, echo8, echo64k, rtt), connect, idle, terminal (cat of 100 MB through --terminal); or compress alone (a JSON feed to -clients broadcast clients, --compress off, without and with context takeover)")
		clients  = flag.Int("clients", 1000, "broadcast clients of -figures=compress")
		lines    = flag.Int("lines", 1000, "internal: lines the feed writes (-serve=feed)")
	)
	flag.Parse()
	var err error
	switch *serve {
	case "ceiling":
		err = serveCeiling(*listen)
	case "spawn":
		err = serveSpawn(*listen, *cat)
	case "feed":
		err = serveFeed(*lines)
	case "":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			<-sigs
			stopAll()
			os.Exit(130)
		}()
		err = run(config{setup: *setup, rounds: *rounds, idle: *idle, capacity: *capacity,
			binary: *binary, baseline: *baseline, only: *only, figures: *figs, clients: *clients})
	default:
		err = fmt.Errorf("-serve=%s: want ceiling, spawn or feed", *serve)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	setup                  string
	rounds, idle, capacity int
	binary, baseline, only string
	figures                string
	clients                int // -figures=compress
}

// has reports whether the figures of group are wanted; "echo" stands for
// echo1, echo8, echo64k and rtt.
func (c config) has(group string) bool {
	want := strings.Split(c.figures, ",")
	return slices.Contains(want, group) ||
		(slices.Contains(want, "echo") && slices.Contains([]string{"echo1", "echo8", "echo64k", "rtt"}, group))
}

func run(c config) error {
	var owns []bool
	switch c.setup {
	case "own":
		owns = []bool{true}
	case "shared":
		owns = []bool{false}
	case "both":
		owns = []bool{true, false}
	default:
		return fmt.Errorf("-setup=%s: want own, shared or both", c.setup)
	}
	binary := c.binary
	if binary == "" {
		dir, err := os.MkdirTemp("", "wsbridge-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "wsbridge")
		build := exec.Command("go", "build", "-o", binary, "github.com/wsbridge/wsbridge")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build wsbridge: %w", err)
		}
	}
	if c.figures == "compress" {
		return runCompress(c, binary, owns)
	}
	all, err := specs(binary, c.baseline)
	if err != nil {
		return err
	}
	if c.only != "" {
		keep := strings.Split(c.only, ",")
		all = slices.DeleteFunc(all, func(s spec) bool { return !slices.Contains(keep, s.name) })
	}
	var names []string
	for _, s := range all {
		names = append(names, s.name)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("%s, %s, load average at start %s\n", time.Now().Format("2006-01-02 15:04"), goVersion(), strings.Join(strings.Fields(string(load))[:3], " "))
	for i, own := range owns {
		r := newResults()
		if err := measureRounds(r, c, all, own); err != nil {
			return err
		}
		if c.has("terminal") {
			if err := measureTerminalRounds(r, c, all, own); err != nil {
				return err
			}
		}
		if i == 0 && c.has("idle") {
			// Memory and descriptors do not depend on the scheduler: once.
			if err := measureIdleAll(r, all, own, c.idle); err != nil {
				return err
			}
		}
		label := "server in its own session (setsid): about half the machine, the client has the other half"
		if !own {
			label = "server in the client's session: it may use both cores"
		}
		fmt.Printf("\n### %s\n\n", label)
		r.print(os.Stdout, c.rounds, names)
	}
	if c.capacity > 0 && c.has("idle") && all[0].name == "wsbridge" {
		// Last: thousands of children at once disturb what follows.
		fmt.Println()
		fmt.Println(measureCapacity(all[0], owns[0], c.capacity))
	}
	return nil
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "go ?"
	}
	return strings.TrimSpace(string(out))
}

// measureRounds runs every throughput, latency and connect figure on every
// target that has it, alternating targets within each round and rotating
// their order from round to round.
func measureRounds(r *results, c config, all []spec, own bool) error {
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, s := range all {
		t, err := s.start(own)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	for round := 0; round < c.rounds; round++ {
		fmt.Fprintf(os.Stderr, "round %d of %d\n", round+1, c.rounds)
		for k := range targets {
			t := targets[(k+round)%len(targets)]
			if err := measureTarget(r, c, t); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	return nil
}

func measureTarget(r *results, c config, t *target) error {
	if !t.ws {
		if !c.has("connect") {
			return nil
		}
		return measureConnects(r, t)
	}
	if c.has("echo") || c.has("echo1") || c.has("echo8") || c.has("echo64k") || c.has("rtt") {
		if err := measureEchoes(r, c, t); err != nil {
			return err
		}
	}
	if t.name == "ceiling" || !c.has("connect") {
		return nil // the ceiling spawns nothing
	}
	return measureConnects(r, t)
}

func measureConnects(r *results, t *target) error {
	c, err := measureConnect(t, 4, 400)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	r.add(figConnect, t.name, c.perSec)
	r.add(figConnectCPU, t.name, c.cpuPer*1e6)
	r.add(figConnectSelf, t.name, c.selfPer*1e6)
	r.add(figConnectClient, t.name, c.clientPer*1e6)
	return nil
}

func measureEchoes(r *results, c config, t *target) error {
	if c.has("echo1") {
		e, err := measureEcho(t, 1, 64, 64, 150000)
		if err != nil {
			return fmt.Errorf("echo, 1 connection: %w", err)
		}
		r.add(figEcho1, t.name, e.msgsPerSec)
		r.add(figCPU1, t.name, e.cpuPerMsg*1e6)
	}
	if c.has("echo8") {
		e, err := measureEcho(t, 8, 64, 64, 15000)
		if err != nil {
			return fmt.Errorf("echo, 8 connections: %w", err)
		}
		r.add(figEcho8, t.name, e.msgsPerSec)
		r.add(figCPU8, t.name, e.cpuPerMsg*1e6)
	}
	if c.has("echo64k") {
		// websocketd 0.4.1 deadlocks with four 64 KiB messages in flight
		// through cat; two works.
		e, err := measureEcho(t, 1, 2, 64<<10, 3000)
		if err != nil {
			return fmt.Errorf("echo 64 KiB: %w", err)
		}
		r.add(figEcho64K, t.name, e.mbPerSec)
		r.add(figCPU64K, t.name, e.cpuPerMsg*1e6)
	}
	if !c.has("rtt") {
		return nil
	}
	p50, p99, err := measureLatency(t, 2000)
	if err != nil {
		return fmt.Errorf("round trip: %w", err)
	}
	r.add(figP50, t.name, p50)
	r.add(figP99, t.name, p99)
	return nil
}

func measureIdleAll(r *results, all []spec, own bool, idle int) error {
	for _, s := range all {
		if !s.ws {
			continue
		}
		fmt.Fprintf(os.Stderr, "%s: %d idle sessions\n", s.name, idle)
		res, err := measureIdle(s, own, idle, false)
		if err != nil {
			return fmt.Errorf("%s, idle sessions: %w", s.name, err)
		}
		r.add(figIdleRSS, s.name, res.kbPerSession)
		r.add(figIdleFDs, s.name, res.fdsPerSession)
	}
	return nil
}

// measureCapacity holds n wsbridge sessions, each echoing once, then all
// echoing at once, and says how that went.
func measureCapacity(s spec, own bool, n int) string {
	fmt.Fprintf(os.Stderr, "%s: %d sessions, all echoing\n", s.name, n)
	res, err := measureIdle(s, own, n, true)
	if err != nil {
		return fmt.Sprintf("%d %s sessions, all echoing: FAILED: %v", n, s.name, err)
	}
	return fmt.Sprintf("%d %s sessions held, all echoing at once: ok, %.2f descriptors and %.1f KB each.", n, s.name, res.fdsPerSession, res.kbPerSession)
}
