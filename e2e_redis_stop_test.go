package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// How a clustered (--redis) group's program is stopped: with the kill
// sequence, as without --redis, whenever it is an ordinary stop; at once
// only when the owner is losing its lease.

// goodbyeScript echoes its input and, once its stdin ends, says goodbye on
// stderr and in a file, and exits 0: a program that saves its state on end
// of input.
func goodbyeScript(t *testing.T) (prog, byeFile string) {
	t.Helper()
	dir := t.TempDir()
	byeFile = filepath.Join(dir, "bye")
	prog = writeScript(t, filepath.Join(dir, "goodbye.sh"), fmt.Sprintf(`echo "pid $$"
while IFS= read -r l; do echo "$l"; done
echo "stdin ended, bye" >&2
echo saved > %s
`, byeFile))
	return prog, byeFile
}

// expectGoodbye checks that the program got the end of its input, said
// goodbye and exited 0.
func expectGoodbye(t *testing.T, s *server, byeFile string) {
	t.Helper()
	s.waitLog(t, testTimeout, "msg=stderr", "stdin ended, bye")
	s.waitLog(t, testTimeout, "group program ended", `exit="exit status 0"`)
	if b, err := os.ReadFile(byeFile); err != nil || string(b) != "saved\n" {
		t.Fatalf("the program's goodbye file: %q, %v", b, err)
	}
}

// The last client of the cluster leaves: the owner's program gets the end
// of its stdin, not SIGKILL.
func TestRedisLastClientLeavesStopsWithKillSequence(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog, bye := goodbyeScript(t)
	s := startInstances(t, r, 1, prog)[0]
	c := dial(t, s.URL("/"))
	pidOf(t, readText(t, c))
	expectEcho(t, c, "hello")
	c.Close(websocket.StatusNormalClosure, "")
	s.waitLog(t, testTimeout, "no instance has clients: stopping the program")
	expectGoodbye(t, s, bye)
	s.waitLog(t, testTimeout, "lease given up", "released=true")
}

// SIGTERM of the daemon that runs the program: the program gets the kill
// sequence, and the daemon exits 0.
func TestRedisShutdownStopsWithKillSequence(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog, bye := goodbyeScript(t)
	s := startInstances(t, r, 1, prog)[0]
	c := dial(t, s.URL("/"))
	pidOf(t, readText(t, c))
	expectEcho(t, c, "hello")
	s.signal(t, syscall.SIGTERM)
	if _, code, _ := readUntilClose(t, c); code != websocket.StatusGoingAway {
		t.Errorf("client closed with %d, want 1001", code)
	}
	if code := s.exitCode(t, testTimeout); code != 0 {
		t.Fatalf("daemon exited %d:\n%s", code, s.Stderr())
	}
	expectGoodbye(t, s, bye)
}

// redis-server frozen (SIGSTOP) for longer than the lease: the owner kills
// its program at once (no kill sequence: no goodbye) before another
// instance could take the lease, and never do two programs run at once;
// once Redis is back, the instance with clients runs the program again.
func TestRedisLeaseLossKillsAtOnce(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog, bye := goodbyeScript(t)
	const lease = 3 * time.Second
	var ss []*server
	for range 2 {
		ss = append(ss, startServer(t, "--broadcast", "--redis="+r.URL(), "--lease="+lease.String(), prog))
	}
	ca := dial(t, ss[0].URL("/"))
	pid := pidOf(t, readText(t, ca))
	cb := dial(t, ss[1].URL("/"))
	expectEcho(t, cb, "hello")
	expectEcho(t, ca, "hello")

	stopWatch := make(chan struct{})
	var most int
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
			most = max(most, programsRunning(prog))
		}
	}()

	r.Freeze()
	frozen := time.Now()
	for alive(pid) {
		if time.Since(frozen) > 2*lease {
			r.Thaw()
			t.Fatalf("the program still runs %v after Redis froze", 2*lease)
		}
		time.Sleep(5 * time.Millisecond)
	}
	died := time.Since(frozen)
	time.Sleep(lease) // frozen for longer than the lease
	r.Thaw()
	// Whichever instance takes the lease now, its clients get a new program.
	var pid2 int
	for pid2 == 0 {
		m := readText(t, ca)
		if strings.HasPrefix(m, "pid ") {
			pid2 = pidOf(t, m)
		}
	}
	close(stopWatch)
	watch.Wait()

	// Another instance may bid a renewal interval after the expiry it saw,
	// which is at most a lease after the owner's last renewal, before the
	// freeze.
	if passes := lease + lease/3; died >= passes {
		t.Errorf("the program died %v after Redis froze; the lease may pass %v after", died, passes)
	}
	t.Logf("the program died %v after Redis froze (lease %v)", died, lease)
	ss[0].waitLog(t, testTimeout, "lease lost", "killing the program")
	ss[0].waitLog(t, testTimeout, "group program ended", fmt.Sprintf("pid=%d", pid), `exit="killed by signal KILL"`)
	if _, err := os.Stat(bye); err == nil {
		t.Error("the program said goodbye: it got a kill sequence, not SIGKILL")
	}
	if most != 1 {
		t.Errorf("%d programs ran at once", most)
	}
	if pid2 == pid {
		t.Errorf("the same program %d", pid)
	}
}

// The lease is renewed on time whatever the program does with its input:
// while it reads none (its stdin full, clients still sending) and while it
// is stopped with a kill sequence that ends in SIGKILL (it ignores SIGINT
// and SIGTERM). The lease's time to live in Redis never runs low.
func TestRedisRenewalNotDelayedByStuckInput(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog := script(t, `trap '' INT TERM; echo "pid $$"; exec sleep 1000`)
	ss := startInstances(t, r, 2, prog) // --lease=1s: renewed every 333 ms
	const low = 200 * time.Millisecond
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var minTTL time.Duration = time.Hour
	var samples int
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for ctx.Err() == nil {
			ttl, err := rdb.PTTL(ctx, "wsbridge:{/}:lease").Result()
			if err == nil && ttl > 0 {
				minTTL = min(minTTL, ttl)
				samples++
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	ca := dial(t, ss[0].URL("/"))
	pid := pidOf(t, readText(t, ca))
	cb := dial(t, ss[1].URL("/"))
	msg := strings.Repeat("x", 4<<10)
	until := time.Now().Add(3 * time.Second)
	var send sync.WaitGroup
	for _, c := range []*websocket.Conn{ca, cb} {
		send.Add(1)
		go func() {
			defer send.Done()
			for time.Now().Before(until) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				c.Write(ctx, websocket.MessageText, []byte(msg))
				cancel()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	send.Wait()
	owner := ss[0] // ca's instance ran the program: its client saw it start
	owner.waitLog(t, testTimeout, "lease taken")

	ca.Close(websocket.StatusNormalClosure, "")
	cb.Close(websocket.StatusNormalClosure, "")
	stopping := owner.waitLog(t, testTimeout, "no instance has clients: stopping the program")
	awaitGone(t, pid, testTimeout)
	ended := owner.waitLog(t, testTimeout, "group program ended", fmt.Sprintf("pid=%d", pid), `exit="killed by signal KILL"`)
	took := logTime(t, ended).Sub(logTime(t, stopping))
	owner.waitLog(t, testTimeout, "lease given up", "released=true")
	cancel()
	watch.Wait()

	t.Logf("lowest lease TTL %v over %d samples; the stop took %v", minTTL, samples, took)
	if minTTL < low {
		t.Errorf("the lease's TTL fell to %v (renewed every 333 ms, lease 1 s): a renewal was late", minTTL)
	}
	if took < 800*time.Millisecond {
		t.Errorf("the program was gone %v after the stop began: it was not given the kill sequence (850 ms to SIGKILL)", took)
	}
}

// The owner's own input (here: every client's join again, sent when its
// presence entry went missing, as after Redis lost it) never waits for room
// in the input buffer behind its clients' messages: with --redis-buffer at
// its least and clients sending all they can, the lease is renewed on time.
func TestRedisRenewalNotDelayedByFullInput(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog := script(t, `exec sleep 1000`) // reads none of its input
	s := startInstances(t, r, 1, "--envelope", "--redis-buffer=4096", prog)[0]
	const idle, senders = 200, 8 // idle clients: joins to send again
	var cs []*websocket.Conn
	for range idle + senders {
		cs = append(cs, dial(t, s.URL("/")))
	}
	s.waitLog(t, testTimeout, "lease taken")
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()

	until := time.Now().Add(4 * time.Second)
	var minTTL time.Duration = time.Hour
	var samples int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx := context.Background()
		lastDel := time.Now()
		for time.Now().Before(until) {
			if ttl, err := rdb.PTTL(ctx, "wsbridge:{/}:lease").Result(); err == nil {
				if ttl < 0 {
					ttl = 0 // expired: no renewal in a whole lease
				}
				minTTL = min(minTTL, ttl)
				samples++
			}
			if time.Since(lastDel) > 500*time.Millisecond {
				rdb.Del(ctx, "wsbridge:{/}:instances")
				lastDel = time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	msg := []byte(strings.Repeat("x", 2000))
	for _, c := range cs[idle:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := c.Write(ctx, websocket.MessageText, msg)
				cancel()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("lowest lease TTL %v over %d samples", minTTL, samples)
	if minTTL < 200*time.Millisecond {
		t.Errorf("the lease's TTL fell to %v (renewed every 333 ms, lease 1 s): a renewal was late", minTTL)
	}
}

// logTime is the time= of a daemon's log line.
func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	v, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatalf("no time in log line %q: %v", line, err)
	}
	return at
}
