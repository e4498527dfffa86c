//go:build unix

package main_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wsbridge/wsbridge/bridge/gatetest/rawws"
)

// Faults (issue 15), each through the binary: the program or Redis or a
// whole instance fails while clients come and go. After each the daemon
// holds no more descriptors, goroutines or children than its baseline,
// and serves a new client.

// faultSettle bounds how long a daemon has to let go of what a fault
// left: the kill sequence of a program that ignores signals, a lease that
// passes, a close handshake nobody answers (5 s).
const faultSettle = 15 * time.Second

// dialMany opens n raw clients to path at once, a few at a time.
func dialMany(t *testing.T, addr, path string, n int) []*rawWS {
	t.Helper()
	cs := make([]*rawWS, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := dialRaw(addr, path, "", 0)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					continue
				}
				cs[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range cs {
			if c != nil {
				c.TCP.Close()
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return cs
}

// waitMetric polls a metric of the daemon until it reads want.
func waitMetric(t *testing.T, w *watched, name, want string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	got := ""
	for time.Now().Before(deadline) {
		if got = metricValue(scrapeMetrics(t, w.metrics), name); got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s = %q, want %s", name, got, want)
}

// servesEcho checks that a new client of path is answered, and leaves
// cleanly.
func servesEcho(t *testing.T, w *watched, path, token string) { servesEchoPath(t, w, path, token) }

func servesEchoPath(t *testing.T, w *watched, path, token string) {
	t.Helper()
	c, err := dialRaw(w.s.addr, path, "", 0)
	if err != nil {
		t.Fatalf("%s: a new client: %v", w.name, err)
	}
	defer c.TCP.Close()
	if err := c.Send(rawws.OpText, []byte(token)); err != nil {
		t.Fatalf("%s: a new client: %v", w.name, err)
	}
	if err := c.await(token, testTimeout); err != nil {
		t.Fatalf("%s: a new client: %v", w.name, err)
	}
	c.closeFrame()
	c.untilClose(testTimeout)
}

// A broadcast program that exits while 1,000 clients are attached: every
// client gets its last line and a close frame, and the daemon lets go of
// every connection and the program.
func TestFaultBroadcastProgramExitsUnderThousandClients(t *testing.T) {
	t.Parallel()
	const n = 1000
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < 3*n { // Go raises the soft limit to the hard one at start
		lim.Cur = min(lim.Max, 3*n)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 3*n {
			t.Skipf("this test needs %d descriptors; the hard limit is %d", 3*n, lim.Max)
		}
	}
	w := watch(t, "broadcast", "--broadcast", "sh", "-c", `read x; echo "bye $x"; exit 3`)
	w.baseline(t)
	perClient := 64 << 10 // measured here: ~30 KiB a client; under -race ~180 KiB
	if raceEnabled {
		perClient = 320 << 10
	}
	w.rssLeeway = rssLeeway + n*perClient
	cs := dialMany(t, w.s.addr, "/", n)
	waitMetric(t, w, "wsbridge_broadcast_clients", strconv.Itoa(n))
	if err := cs[0].Send(rawws.OpText, []byte("all")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.await("bye all", testTimeout)
			code := 0
			if err == nil {
				code, err = c.untilClose(testTimeout)
			}
			if err == nil && code != 4003 { // 4000 + the exit status
				err = fmt.Errorf("close code %d, want 4003", code)
			}
			c.TCP.Close()
			if err != nil {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("client %d: %v", i, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d clients did not see the end: %s", len(failed), n, strings.Join(failed[:min(5, len(failed))], "; "))
	}
	h := w.settled(t, "the program's exit", faultSettle)
	t.Logf("after %d clients: %v", n, h)
	servesEcho(t, w, "/", "again")
	w.settled(t, "a new client", faultSettle)
}

// A program that closes its stdout and goes on running ends the session
// (pipe) or its group (broadcast): the kill sequence stops it, and nothing
// stays behind.
func TestFaultProgramClosesStdoutButRuns(t *testing.T) {
	t.Parallel()
	prog := `echo "pid $$"; exec >&-; exec sleep 600`
	for _, mode := range [][]string{{}, {"--broadcast"}} {
		name := "pipe"
		if len(mode) > 0 {
			name = "broadcast"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := watch(t, name, append(mode, "--closems=0", "sh", "-c", prog)...)
			w.baseline(t)
			for round := range 3 {
				c, err := dialRaw(w.s.addr, "/", "", 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.await("pid ", testTimeout); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if _, err := c.untilClose(testTimeout); err != nil {
					t.Fatalf("round %d: no close frame after the program closed its stdout: %v", round, err)
				}
				c.TCP.Close()
				w.settled(t, fmt.Sprintf("round %d", round), faultSettle)
			}
		})
	}
}

// A program that ignores SIGINT and SIGTERM (and whose background job
// does too): the kill sequence goes on to SIGKILL, for the whole process
// group, and nothing is left behind.
func TestFaultProgramIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	prog := `trap "" INT TERM HUP; sleep 600 & echo "pid $$"; while :; do sleep 1; done`
	pidRE := regexp.MustCompile(`pid (\d+)`)
	for _, mode := range [][]string{{}, {"--broadcast"}} {
		name := "pipe"
		if len(mode) > 0 {
			name = "broadcast"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := watch(t, name, append(mode, "--closems=0", "sh", "-c", prog)...)
			w.baseline(t)
			c, err := dialRaw(w.s.addr, "/", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.await("pid ", testTimeout); err != nil {
				t.Fatal(err)
			}
			m := pidRE.FindStringSubmatch(c.seen)
			if m == nil {
				t.Fatalf("no pid in %q", c.seen)
			}
			pid, _ := strconv.Atoi(m[1])
			c.Reset()
			w.s.waitLog(t, faultSettle, `exit="killed by signal KILL"`)
			w.settled(t, "the kill sequence", faultSettle)
			if !groupGone(pid) {
				t.Fatalf("the program's process group %d outlived the kill sequence", pid)
			}
			servesEcho(t, w, "/", "pid ")
		})
	}
}

// clusterHeld is what the daemons of a cluster hold together.
func clusterHeld(t *testing.T, ws []*watched) held {
	t.Helper()
	var sum held
	for _, w := range ws {
		h, err := w.now()
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		sum.fds += h.fds
		sum.goroutines += h.goroutines
		sum.children += h.children
		sum.rss = max(sum.rss, h.rss)
	}
	return sum
}

// clusterSettled waits until the daemons together hold no more than
// together at their baselines (a lease may have passed from one to the
// other, and the program with it), with the leeways of each.
func clusterSettled(t *testing.T, ws []*watched, base held, after string) {
	t.Helper()
	sum := &watched{name: "the cluster", base: base}
	deadline := time.Now().Add(faultSettle)
	for {
		h := clusterHeld(t, ws)
		h.fds -= fdLeeway * (len(ws) - 1)
		h.goroutines -= goroutineLeeway * (len(ws) - 1)
		excess := sum.excess(h)
		if excess == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s (baseline %v, now %v)", after, excess, base, h)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// churnWhile makes clients join d's path and leave it, in every way, until
// stop is closed; clients are not waited on for an answer (Redis may not
// answer), only connected and given a message.
func churnWhile(t *testing.T, d *watched, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var later []*rawWS
		defer func() { closeLater(later) }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			way := departures[i%len(departures)]
			c, err := dialRaw(d.s.addr, "/churn", "", 0)
			if err != nil {
				t.Errorf("%s: join during the fault: %v", d.name, err)
				return
			}
			c.Send(rawws.OpText, []byte(fmt.Sprintf("churn %d", i)))
			switch way {
			case "clean close", "close unanswered":
				c.closeFrame()
				later = append(later, c)
			case "fin":
				c.TCP.CloseWrite()
				later = append(later, c)
			case "reset mid-frame":
				c.TCP.Write([]byte{0x81, 0x80 | 100, 1, 2, 3, 4, 'h', 'a'})
				c.Reset()
			default:
				c.Reset()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return &wg
}

// Redis frozen (SIGSTOP) for longer than the lease, then continued, while
// clients join and leave on both instances: afterwards the cluster holds
// what it held before, runs one program, and both instances serve.
func TestFaultRedisFrozenPastLease(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	marker := "frozen-" + strconv.Itoa(r.Port)
	args := []string{"--broadcast", "--redis=" + r.URL(), "--lease=1s", "sh", "-c", `cat; :`, marker}
	a := watch(t, "a", args...)
	b := watch(t, "b", args...)
	anchorClient(t, churnKind{}, a)
	anchorClient(t, churnKind{}, b)
	for _, w := range []*watched{a, b} {
		w.baseline(t)
	}
	base := clusterHeld(t, []*watched{a, b})

	stop := make(chan struct{})
	wa, wb := churnWhile(t, a, stop), churnWhile(t, b, stop)
	time.Sleep(300 * time.Millisecond)
	r.Freeze()
	time.Sleep(2500 * time.Millisecond) // the lease is 1 s
	r.Thaw()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wa.Wait()
	wb.Wait()

	clusterSettled(t, []*watched{a, b}, base, "Redis frozen and continued")
	if n := programsRunning(marker); n != 1 {
		t.Fatalf("%d programs in the cluster, want 1", n)
	}
	servesEcho(t, a, "/churn", "after the freeze on a")
	servesEcho(t, b, "/churn", "after the freeze on b")
	clusterSettled(t, []*watched{a, b}, base, "new clients")
}

// The owner instance SIGKILLed (its machine gone, program and all) while
// clients leave the other: the other takes the group over and holds then
// what the owner held, no more, and serves.
func TestFaultOwnerKilledWhileClientsLeave(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	marker := "owner-killed-" + strconv.Itoa(r.Port)
	args := []string{"--broadcast", "--redis=" + r.URL(), "--lease=1s", "sh", "-c", `cat; :`, marker}
	owner := watch(t, "owner", args...)
	other := watch(t, "other", args...)
	readingClient(t, churnKind{}, owner) // goes with its instance
	anchorClient(t, churnKind{}, other)
	owner.baseline(t)
	other.baseline(t)
	kids := descendants(owner.pid())
	if len(kids) == 0 {
		t.Fatal("the owner runs no program")
	}

	stop := make(chan struct{})
	wg := churnWhile(t, other, stop)
	time.Sleep(500 * time.Millisecond)
	owner.s.signal(t, syscall.SIGKILL)
	for _, pid := range kids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	time.Sleep(2 * time.Second) // the lease passes meanwhile
	close(stop)
	wg.Wait()

	// The other instance is the owner now, with the same clients (its
	// anchor) as the owner had: it may hold what the owner held.
	other.base = owner.base
	other.settled(t, "the owner's death", faultSettle)
	if n := programsRunning(marker); n != 1 {
		t.Fatalf("%d programs in the cluster, want 1", n)
	}
	servesEcho(t, other, "/churn", "after the takeover")
	other.settled(t, "a new client", faultSettle)
}
