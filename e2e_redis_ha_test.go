package main_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster/redistest"
)

// Redis that survives its own failures: a real Sentinel (master, replica,
// three sentinels) and a real Redis Cluster (three masters, three
// replicas), each started once for the package (stopTopologies, from
// TestMain) and killed in one test each.

var (
	sentinelTopo = redistest.NewFixture(redistest.StartSentinel)
	clusterTopo  = redistest.NewFixture(func() (*redistest.Cluster, error) { return redistest.StartCluster(true) })
)

func stopTopologies() {
	sentinelTopo.Stop()
	clusterTopo.Stop()
}

// feed is what one client read, with when.
type feed struct {
	mu    sync.Mutex
	times []time.Time
	msgs  []string
	err   error
	done  chan struct{}
}

// readFeed reads c until stop is closed (then closes c) or a read fails.
func readFeed(c *websocket.Conn, stop <-chan struct{}) *feed {
	f := &feed{done: make(chan struct{})}
	go func() { // waited for by wait
		<-stop
		c.CloseNow()
	}()
	go func() {
		defer close(f.done)
		for {
			_, b, err := readWithTimeout(c)
			select {
			case <-stop:
				return
			default:
			}
			f.mu.Lock()
			if err != nil {
				f.err = err
				f.mu.Unlock()
				return
			}
			f.times = append(f.times, time.Now())
			f.msgs = append(f.msgs, string(b))
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *feed) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

// lastAt is when the last message arrived.
func (f *feed) lastAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.times) == 0 {
		return time.Time{}
	}
	return f.times[len(f.times)-1]
}

// counted checks a counter's feed (numbers, and "gap N" lines from an
// envelope program): every number above the one before, never repeated.
// It answers the numbers missed, the losses announced, and the longest
// silence after since (and when it ended); before is the longest one
// before since, for comparison (the machine is loaded).
func (f *feed) counted(t *testing.T, name string, since time.Time) (missed, announced int, pause time.Duration, resumed time.Time, before time.Duration) {
	t.Helper()
	<-f.done
	if f.err != nil {
		t.Fatalf("%s: read failed: %v", name, f.err)
	}
	prev := 0
	var prevAt time.Time
	for i, m := range f.msgs {
		if n, ok := strings.CutPrefix(m, "gap "); ok {
			k, _ := strconv.Atoi(n)
			announced += k
			continue
		}
		n, err := strconv.Atoi(strings.Fields(m)[0])
		if err != nil {
			t.Fatalf("%s: message %q", name, m)
		}
		if prev != 0 && n <= prev {
			t.Fatalf("%s: %d after %d: a repeat, or the program started again", name, n, prev)
		}
		if prev != 0 {
			missed += n - prev - 1
		}
		at := f.times[i]
		switch {
		case prevAt.IsZero():
		case at.After(since):
			if d := at.Sub(prevAt); d > pause {
				pause, resumed = d, at
			}
		default:
			before = max(before, at.Sub(prevAt))
		}
		prev, prevAt = n, at
	}
	return missed, announced, pause, resumed, before
}

// metricInt reads a counter of a daemon's /metrics (0 when absent).
func metricInt(t *testing.T, addr, name string) int {
	v := metricValue(scrapeMetrics(t, addr), name)
	n, _ := strconv.ParseFloat(v, 64)
	return int(n)
}

// envelopeCounter is an envelope program that counts every 10 ms and
// tells its clients of every gap event.
const envelopeCounter = `import json, sys, threading, time
def count():
    i = 0
    while True:
        i += 1
        print(json.dumps({"data": "%d" % i}), flush=True)
        time.sleep(0.01)
threading.Thread(target=count, daemon=True).start()
for line in sys.stdin:
    m = json.loads(line)
    if m.get("event") == "gap":
        print(json.dumps({"data": "gap %d" % max(m["lost"], 0)}), flush=True)
`

// SIGKILL of the Sentinel master during a steady feed to clients on two
// instances: Sentinel promotes the replica, the owner renews its lease on
// it and keeps its program, and the feed goes on; every message lost is
// counted and announced (gap), none silently. The replica is made to lag
// (cut off and stopped for 600 ms before the kill, under the sentinels'
// down-after-milliseconds), so the master it replaces had output, and
// lease renewals, it never got: the owner must find its output missing and
// write it again.
func TestRedisSentinelFailover(t *testing.T) {
	need(t, "python3", "the envelope program")
	s := sentinelTopo.Get(t)
	prog := writeFile(t, t.TempDir()+"/count.py", envelopeCounter, 0o644)
	var ss []*server
	var metrics []string
	for range 2 {
		m := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		metrics = append(metrics, m)
		ss = append(ss, startServer(t, "--broadcast", "--envelope", "--redis-sentinel="+s.Addrs(), "--redis-master="+s.Name,
			"--redis-prefix=sentinel-failover", "--lease=8s", "--metrics-address="+m, "--passenv=PATH", "/usr/bin/python3", prog))
	}
	stop := make(chan struct{})
	halt := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(halt)
	var feeds []*feed
	for _, srv := range ss {
		c := dial(t, srv.URL("/feed"))
		readText(t, c) // the program runs
		feeds = append(feeds, readFeed(c, stop))
	}
	time.Sleep(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	old, err := s.MasterAddr(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	err = s.LagReplica(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	killed := time.Now()
	s.Master.Kill()
	s.Replica.Thaw()
	promoted, err := s.WaitMaster(old, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	promotedAfter := time.Since(killed)
	// The feed goes on: both clients get messages newer than the kill.
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range feeds {
		for !f.lastAt().After(time.Now().Add(-100*time.Millisecond)) || !f.lastAt().After(killed.Add(promotedAfter)) {
			if time.Now().After(deadline) {
				t.Fatalf("the feed did not resume within 30 s of the kill:\n%s", ss[0].Stderr())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second)
	halt()
	lost := 0
	for i, m := range metrics {
		lost += metricInt(t, m, `wsbridge_redis_dropped_total{where="stream"}`) + metricInt(t, m, `wsbridge_redis_dropped_total{where="failover"}`)
		if strings.Contains(ss[i].Stderr(), "lease lost") || strings.Count(ss[i].Stderr(), "lease taken") > 1 {
			t.Fatalf("instance %d lost its lease or ran the program twice:\n%s", i, ss[i].Stderr())
		}
	}
	rewritten := metricInt(t, metrics[0], "wsbridge_redis_rewritten_total") + metricInt(t, metrics[1], "wsbridge_redis_rewritten_total")
	if rewritten == 0 && lost == 0 {
		t.Fatal("the output the lagging replica never got was neither written again nor counted lost")
	}
	for i, f := range feeds {
		missed, announced, pause, resumed, _ := f.counted(t, "client "+strconv.Itoa(i), killed)
		if missed > announced {
			t.Fatalf("client %d missed %d messages, %d announced: a silent loss", i, missed, announced)
		}
		if missed > lost {
			t.Fatalf("client %d missed %d messages, the instances counted %d", i, missed, lost)
		}
		t.Logf("client %d: %d messages; paused %v, resumed %v after the kill; missed %d, announced %d",
			i, f.len(), pause.Round(time.Millisecond), resumed.Sub(killed).Round(time.Millisecond), missed, announced)
	}
	t.Logf("new master %s after %v; lost (counted by the instances) %d, written again %d", promoted, promotedAfter.Round(time.Millisecond), lost, rewritten)
}

// SIGKILL of a Redis Cluster master holding some groups: its replica takes
// over, and those groups resume; the groups of the other masters never
// pause. --max-groups works on the Cluster (its count is one key).
func TestRedisClusterFailover(t *testing.T) {
	c := clusterTopo.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Three groups on the master of /g0's slot, three on the others.
	victim, err := c.MasterOf(ctx, "{/g0}")
	if err != nil {
		t.Fatal(err)
	}
	var hit, spared []string
	for i := 0; len(hit) < 3 || len(spared) < 3; i++ {
		if i > 200 {
			t.Fatal("no spread of groups over the masters")
		}
		path := "/g" + strconv.Itoa(i)
		m, err := c.MasterOf(ctx, "{"+path+"}")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m == victim && len(hit) < 3:
			hit = append(hit, path)
		case m != victim && len(spared) < 3:
			spared = append(spared, path)
		}
	}
	var ss []*server
	var metrics []string
	for range 2 {
		m := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		metrics = append(metrics, m)
		ss = append(ss, startServer(t, "--broadcast", "--redis-cluster="+c.Addrs(), "--redis-prefix=cluster-failover",
			"--lease=8s", "--max-groups=100", "--metrics-address="+m, "sh", "-c", counter))
	}
	stop := make(chan struct{})
	halt := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(halt)
	feeds := map[string][]*feed{}
	for _, path := range append(append([]string{}, hit...), spared...) {
		for _, srv := range ss {
			cl := dial(t, srv.URL(path))
			readText(t, cl)
			feeds[path] = append(feeds[path], readFeed(cl, stop))
		}
	}
	time.Sleep(time.Second)
	killed := time.Now()
	victim.Kill()
	if _, err := c.WaitSlotMaster("{/g0}", victim, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	promotedAfter := time.Since(killed)
	deadline := time.Now().Add(30 * time.Second)
	for _, path := range hit {
		for _, f := range feeds[path] {
			for !f.lastAt().After(killed.Add(promotedAfter)) {
				if time.Now().After(deadline) {
					t.Fatalf("%s did not resume within 30 s of the kill:\n%s", path, ss[0].Stderr())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	time.Sleep(2 * time.Second)
	halt()
	lost := 0
	for i, m := range metrics {
		lost += metricInt(t, m, `wsbridge_redis_dropped_total{where="stream"}`) + metricInt(t, m, `wsbridge_redis_dropped_total{where="failover"}`)
		if strings.Contains(ss[i].Stderr(), "CROSSSLOT") {
			t.Fatalf("instance %d: a script crossed slots:\n%s", i, ss[i].Stderr())
		}
	}
	var hitPause time.Duration
	missedAll := 0
	for _, path := range hit {
		for i, f := range feeds[path] {
			missed, _, pause, resumed, _ := f.counted(t, path+" on instance "+strconv.Itoa(i), killed)
			missedAll += missed
			hitPause = max(hitPause, pause)
			t.Logf("%s (dead master) on instance %d: paused %v, resumed %v after the kill, missed %d",
				path, i, pause.Round(time.Millisecond), resumed.Sub(killed).Round(time.Millisecond), missed)
		}
	}
	for _, path := range spared {
		for i, f := range feeds[path] {
			missed, _, pause, _, before := f.counted(t, path+" on instance "+strconv.Itoa(i), killed)
			missedAll += missed
			t.Logf("%s (live master) on instance %d: longest pause %v (before the kill %v), missed %d",
				path, i, pause.Round(time.Millisecond), before.Round(time.Millisecond), missed)
			if pause > 2*time.Second {
				t.Errorf("%s on instance %d paused %v while another master failed over", path, i, pause)
			}
		}
	}
	if missedAll > lost {
		t.Fatalf("clients missed %d messages, the instances counted %d: a silent loss", missedAll, lost)
	}
	t.Logf("replica promoted after %v; lost (counted) %d", promotedAfter.Round(time.Millisecond), lost)
}

// The topology flags: exactly one of --redis, --redis-sentinel,
// --redis-cluster, and the errors name the flags.
func TestRedisHAFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--broadcast", "--redis=redis://127.0.0.1:1", "--redis-cluster=127.0.0.1:2", "cat"}, "--redis, --redis-sentinel and --redis-cluster exclude each other"},
		{[]string{"--broadcast", "--redis-sentinel=127.0.0.1:2", "--redis-cluster=127.0.0.1:2", "--redis-master=m", "cat"}, "exclude each other"},
		{[]string{"--broadcast", "--redis-sentinel=127.0.0.1:2", "cat"}, "--redis-sentinel needs --redis-master"},
		{[]string{"--broadcast", "--redis=redis://127.0.0.1:1", "--redis-master=m", "cat"}, "--redis-master needs --redis-sentinel"},
		{[]string{"--broadcast", "--redis-cluster=127.0.0.1:1", "--redis-sentinel-password-file=/x", "cat"}, "--redis-sentinel-password-file needs --redis-sentinel"},
		{[]string{"--broadcast", "--redis-cluster=127.0.0.1:x", "cat"}, `--redis-cluster: "127.0.0.1:x": port must be 1-65535`},
		{[]string{"--broadcast", "--redis-sentinel=ftp://h:1", "--redis-master=m", "cat"}, `--redis-sentinel: scheme "ftp"`},
		{[]string{"--broadcast", "--redis-cluster=rediss://u:secret@h", "cat"}, `--redis-cluster: "h": want HOST:PORT`},
		{[]string{"--redis-cluster=127.0.0.1:1", "cat"}, "--redis-cluster needs --broadcast"},
		{[]string{"--broadcast", "--lease=2s", "cat"}, "--lease needs --redis, --redis-sentinel or --redis-cluster"},
	} {
		code, out := runWsbridge(t, nil, tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, out, tc.want)
		}
		if strings.Contains(out, "secret") {
			t.Errorf("%v: the error shows the password: %q", tc.args, out)
		}
	}
}
