package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster/redistest"
)

// Broadcast across machines (--redis): several daemons on this machine,
// one redis-server of the test's own.

// startRedis runs a throwaway redis-server on a free loopback port.
func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }

// startInstances runs n daemons of one cluster with the same args.
func startInstances(t testing.TB, r *redistest.Server, n int, args ...string) []*server {
	t.Helper()
	var ss []*server
	for range n {
		ss = append(ss, startServer(t, append([]string{"--broadcast", "--redis=" + r.URL(), "--lease=1s"}, args...)...))
	}
	return ss
}

// programsRunning counts processes whose command line holds marker.
func programsRunning(marker string) int {
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		// The daemons name the program too: only the program counts.
		if err == nil && strings.Contains(string(b), marker) && !strings.Contains(string(b), "--redis=") {
			n++
		}
	}
	return n
}

// Three instances: one program in the cluster; a message from a client of
// any instance reaches it, and its answers reach the clients of every
// instance, all in the same order.
func TestRedisThreeInstancesOneProgram(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog := script(t, `while IFS= read -r l; do echo "$l"; done`)
	ss := startInstances(t, r, 3, prog)
	var cs []*websocket.Conn
	for i, s := range ss {
		c := dial(t, s.URL("/room"))
		cs = append(cs, c)
		if i == 0 {
			expectEcho(t, c, "first") // the program runs
		}
	}
	time.Sleep(300 * time.Millisecond) // every instance reads the stream
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				writeText(t, c, fmt.Sprintf("%d-%d", i, j))
			}
		}()
	}
	wg.Wait()
	var seqs [][]string
	for _, c := range cs {
		var got []string
		for range 60 {
			got = append(got, readText(t, c))
		}
		seqs = append(seqs, got)
	}
	for i := 1; i < 3; i++ {
		if strings.Join(seqs[i], ",") != strings.Join(seqs[0], ",") {
			t.Fatalf("instance %d saw another order:\n%v\n%v", i, seqs[0], seqs[i])
		}
	}
	for i := range 3 { // each client's messages in its order
		next := 0
		for _, m := range seqs[0] {
			if strings.HasPrefix(m, strconv.Itoa(i)+"-") {
				if m != fmt.Sprintf("%d-%d", i, next) {
					t.Fatalf("client %d's messages out of order: %v", i, seqs[0])
				}
				next++
			}
		}
	}
	if n := programsRunning(prog); n != 1 {
		t.Fatalf("%d programs running in the cluster, want 1", n)
	}
}

// --envelope across instances: IDs name their instance, an answer
// addressed to a client on another instance reaches it, and a close of a
// client on another instance closes it.
func TestRedisEnvelopeAcrossInstances(t *testing.T) {
	t.Parallel()
	need(t, "python3", "the envelope program")
	r := startRedis(t)
	prog := writeFile(t, t.TempDir()+"/env.py", `import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("event") == "join":
        out = {"data": "welcome %s %s" % (m["client"], m.get("instance", "-")), "to": [m["client"]]}
    elif m.get("event") == "leave":
        out = {"data": "left %s %d" % (m["client"], m["code"])}
    elif m.get("event"):
        continue
    elif m["data"] == "kick":
        out = {"close": m["client"], "code": 4001, "reason": "kicked"}
    else:
        out = {"data": "%s: %s" % (m["client"], m["data"])}
    print(json.dumps(out), flush=True)
`, 0o644)
	ss := startInstances(t, r, 2, "--envelope", "--passenv=PATH", "/usr/bin/python3", prog)
	a := dial(t, ss[0].URL("/chat"))
	wa := strings.Fields(readText(t, a))
	b := dial(t, ss[1].URL("/chat"))
	wb := strings.Fields(readText(t, b))
	if len(wa) != 3 || len(wb) != 3 || wa[1] == wb[1] || wa[2] == wb[2] || !strings.HasPrefix(wa[1], wa[2]+"-") || !strings.HasPrefix(wb[1], wb[2]+"-") {
		t.Fatalf("welcomes %q and %q: want IDs unique in the cluster, prefixed with their instance", wa, wb)
	}
	writeText(t, b, "hello")
	for _, c := range []*websocket.Conn{a, b} {
		if got := readText(t, c); got != wb[1]+": hello" {
			t.Fatalf("got %q", got)
		}
	}
	writeText(t, b, "kick")
	if _, code, reason := readUntilClose(t, b); code != 4001 || reason != "kicked" {
		t.Fatalf("b closed with %d %q, want 4001 kicked", code, reason)
	}
	if got := readText(t, a); got != "left "+wb[1]+" 4001" {
		t.Fatalf("a got %q, want b's leave", got)
	}
}

// --replay on an instance that joins later: the same history.
func TestRedisReplayOnJoiningInstance(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	a := startInstances(t, r, 1, "--replay=3", "sh", "-c", `seq 1 10; exec cat`)[0]
	ca := dial(t, a.URL("/"))
	for i := 1; i <= 10; i++ {
		if got := readText(t, ca); got != strconv.Itoa(i) {
			t.Fatalf("got %q, want %d", got, i)
		}
	}
	b := startInstances(t, r, 1, "--replay=3", "sh", "-c", `seq 1 10; exec cat`)[0]
	cb := dial(t, b.URL("/"))
	time.Sleep(200 * time.Millisecond)
	writeText(t, cb, "live")
	var got []string
	for range 4 {
		got = append(got, readText(t, cb))
	}
	if strings.Join(got, ",") != "8,9,10,live" {
		t.Fatalf("joining instance's client got %v, want [8 9 10 live]", got)
	}
}

// kill -9 of the owner: another instance takes over within the lease and a
// renewal, its clients stay connected, and input sent meanwhile reaches
// the new program.
func TestRedisOwnerKilled(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog := script(t, `echo "pid $$"; exec cat`)
	ss := startInstances(t, r, 2, "--replay=1", prog)
	ca := dial(t, ss[0].URL("/"))
	pid := pidOf(t, readText(t, ca))
	cb := dial(t, ss[1].URL("/"))
	if got := readText(t, cb); got != fmt.Sprintf("pid %d", pid) {
		t.Fatalf("b's replay %q", got)
	}
	expectEcho(t, cb, "before")
	ss[0].signal(t, syscall.SIGKILL)
	killed := time.Now()
	syscall.Kill(-pid, syscall.SIGKILL) // its program goes with the machine
	writeText(t, cb, "during the gap")
	got := readText(t, cb)
	if !strings.HasPrefix(got, "pid ") || got == fmt.Sprintf("pid %d", pid) {
		t.Fatalf("got %q, want the new program's pid", got)
	}
	if d := time.Since(killed); d > time.Second+time.Second/3+time.Second {
		t.Fatalf("takeover after %v, want about the lease and a renewal", d)
	}
	if got := readText(t, cb); got != "during the gap" {
		t.Fatalf("got %q, want the input sent during the gap", got)
	}
	expectEcho(t, cb, "after")
}

// counter is a program writing 1, 2, 3... every 10 ms.
const counter = `i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done`

// readCounter reads the counter on c until stop and checks every number
// follows the one before.
func readCounter(t *testing.T, c *websocket.Conn, until time.Time) (first, last int) {
	t.Helper()
	for time.Now().Before(until) {
		n, err := strconv.Atoi(readText(t, c))
		if err != nil {
			t.Fatal(err)
		}
		if last != 0 && n != last+1 {
			t.Fatalf("got %d after %d: a gap or a repeat", n, last)
		}
		if first == 0 {
			first = n
		}
		last = n
	}
	return first, last
}

// redis-server frozen for 3 s (SIGSTOP, SIGCONT): every client connected
// throughout sees every message once, in order, and the owner keeps its
// program (the lease is 5 s).
func TestRedisFrozen(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	var ss []*server
	for range 2 {
		ss = append(ss, startServer(t, "--broadcast", "--redis="+r.URL(), "sh", "-c", counter))
	}
	ca := dial(t, ss[0].URL("/"))
	readText(t, ca)
	cb := dial(t, ss[1].URL("/"))
	until := time.Now().Add(6 * time.Second)
	go func() {
		time.Sleep(time.Second)
		r.Freeze()
		time.Sleep(3 * time.Second)
		r.Thaw()
	}()
	var wg sync.WaitGroup
	for _, c := range []*websocket.Conn{ca, cb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, last := readCounter(t, c, until)
			t.Logf("read %d..%d", first, last)
		}()
	}
	wg.Wait()
	if strings.Contains(ss[0].Stderr(), "lease lost") {
		t.Fatalf("the owner lost its lease:\n%s", ss[0].Stderr())
	}
}

// redis-server killed and started again empty on the same port: the group
// serves again within seconds; what was lost is bounded by --redis-buffer,
// counted, and announced to the envelope program (which tells clients).
func TestRedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	need(t, "python3", "the envelope program")
	r := startRedis(t)
	prog := writeFile(t, t.TempDir()+"/count.py", `import json, sys, threading, time
def count():
    i = 0
    while True:
        i += 1
        print(json.dumps({"data": "%d %s" % (i, "x" * 100)}), flush=True)
        time.sleep(0.005)
threading.Thread(target=count, daemon=True).start()
for line in sys.stdin:
    m = json.loads(line)
    if m.get("event") == "gap":
        print(json.dumps({"data": "gap %d" % m["lost"]}), flush=True)
`, 0o644)
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startServer(t, "--broadcast", "--envelope", "--redis="+r.URL(), "--lease=2s", "--redis-buffer=4096", "--metrics-address="+metrics, "--passenv=PATH", "/usr/bin/python3", prog)
	b := startInstances(t, r, 1, "--envelope", "--lease=2s", "--redis-buffer=4096", "--passenv=PATH", "/usr/bin/python3", prog)[0]
	ca := dial(t, a.URL("/"))
	readText(t, ca)
	cb := dial(t, b.URL("/"))
	readText(t, cb)
	r.Kill()
	time.Sleep(time.Second) // the program writes ~200 messages meanwhile
	r.Start()
	restarted := time.Now()
	for _, c := range []*websocket.Conn{ca, cb} {
		sawGap := false
		for !sawGap {
			if time.Since(restarted) > 10*time.Second {
				t.Fatal("no gap announced")
			}
			sawGap = strings.HasPrefix(readText(t, c), "gap ")
		}
	}
	if d := time.Since(restarted); d > 5*time.Second {
		t.Fatalf("serving again %v after Redis came back", d)
	}
	prev := 0
	for range 50 { // and the count goes on
		m := readText(t, cb)
		if strings.HasPrefix(m, "gap ") {
			continue
		}
		n, _ := strconv.Atoi(strings.Fields(m)[0])
		if prev != 0 && n != prev+1 {
			t.Fatalf("got %d after %d once Redis was back", n, prev)
		}
		prev = n
	}
	if v := metricValue(scrapeMetrics(t, metrics), `wsbridge_redis_dropped_total{where="buffer"}`); v == "" || v == "0" {
		t.Fatalf("wsbridge_redis_dropped_total{where=\"buffer\"} = %q, want the dropped messages", v)
	}
}

// Startup errors name the flags.
func TestRedisFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--redis=redis://127.0.0.1:1/0", "cat"}, "--redis needs --broadcast"},
		{[]string{"--broadcast", "--lease=2s", "cat"}, "--lease needs --redis"},
		{[]string{"--broadcast", "--redis-prefix=x", "cat"}, "--redis-prefix needs --redis"},
		{[]string{"--broadcast", "--redis=http://x/", "cat"}, "--redis=http://x/"},
		{[]string{"--broadcast", "--redis=redis://127.0.0.1:1/0", "--lease=10ms", "cat"}, "--lease=10ms"},
		{[]string{"--broadcast", "--redis=redis://127.0.0.1:1/0", "--redis-password-file=/nonexistent", "cat"}, "--redis-password-file"},
	} {
		code, out := runWsbridge(t, nil, tc.args...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("wsbridge %q: exit %d, output %q; want an error naming %s", tc.args, code, out, tc.want)
		}
	}
}
