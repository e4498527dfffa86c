package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// End-to-end tests of the bounds on Redis memory and on groups (issue 21,
// point 3): input deleted once read, output streams bounded in bytes, keys
// that expire, --max-groups.

func redisClientOf(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// usedMemory is INFO memory's used_memory, in bytes.
func usedMemory(t testing.TB, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no used_memory in INFO memory:\n%s", info)
	return 0
}

// pollFor waits up to d for ok, failing the test with what.
func pollFor(t testing.TB, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisInputDeletedOnceRead: a client sends 300 messages of 1 MB (60
// under the race detector, which makes it ten times slower) to a program
// that reads them; once the owner has written them to it, the input
// stream is empty and Redis's memory is back near where it was. Before,
// the input stayed (10,000 entries, 24 hours): 300 MB.
func TestRedisInputDeletedOnceRead(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	rdb := redisClientOf(t, r.Addr())
	ctx := context.Background()
	got := filepath.Join(t.TempDir(), "stdin")
	// The default lease: under load a 1s one may be lost, and a new
	// program (appending, as input is at least once) started.
	// sh keeps stdout open: a program whose stdout closes has ended.
	s := startServer(t, "--broadcast", "--redis="+r.URL(), "sh", "-c", `cat >>"$0"`, got)
	c := dial(t, s.URL("/room1"))
	pollFor(t, "the program's lease", testTimeout, func() bool {
		return rdb.Exists(ctx, "wsbridge:{/room1}:lease").Val() == 1
	})
	baseline := usedMemory(t, rdb)
	msg := strings.Repeat("x", 1000*1000)
	n := 300
	if raceEnabled {
		n = 60
	}
	peak := baseline
	start := time.Now()
	for i := range n {
		writeText(t, c, msg)
		if i%20 == 0 {
			peak = max(peak, usedMemory(t, rdb))
		}
	}
	want := int64(n * (len(msg) + 1))
	pollFor(t, "the program to read every message", 120*time.Second, func() bool {
		fi, err := os.Stat(got)
		return err == nil && fi.Size() >= want
	})
	// Recorded: the owner stored its position; the input is then gone,
	// and the memory with it (within 10s, for Redis's own buffers).
	pollFor(t, "the owner to record its input position", testTimeout, func() bool {
		return rdb.HGet(ctx, "wsbridge:{/room1}:meta", "inpos").Val() == rdb.XInfoStream(ctx, "wsbridge:{/room1}:in").Val().LastGeneratedID
	})
	var after int
	deadline := time.Now().Add(10 * time.Second)
	for after = usedMemory(t, rdb); after >= baseline+8<<20 && time.Now().Before(deadline); after = usedMemory(t, rdb) {
		time.Sleep(100 * time.Millisecond)
	}
	xlen := rdb.XLen(ctx, "wsbridge:{/room1}:in").Val()
	t.Logf("%d x 1 MB in %v: used_memory %d before, peak seen %d, %d after; input XLEN %d",
		n, time.Since(start).Round(time.Millisecond), baseline, peak, after, xlen)
	if xlen != 0 || after >= baseline+8<<20 {
		t.Fatalf("once read: input stream XLEN %d, used_memory %d (baseline %d); want 0 and within 8 MiB", xlen, after, baseline)
	}
}

// TestRedisOutputStreamBounded: --redis-stream-bytes bounds the output
// stream: the oldest is trimmed and counted, the byte count kept in the
// meta hash is the stream's, and a client that asks for more history than
// is left (--replay) gets the newest part of it, in order, to the last.
func TestRedisOutputStreamBounded(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	rdb := redisClientOf(t, r.Addr())
	ctx := context.Background()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	prog := script(t, `l=$(head -c 20000 /dev/zero | tr '\0' x)
i=0
while [ $i -lt 300 ]; do i=$((i+1)); echo "$i $l"; done
exec cat`)
	// The default lease: its 1s command timeout does not make a loaded
	// machine retry an append that went through (and so write it twice).
	args := []string{"--broadcast", "--redis=" + r.URL(), "--redis-stream-bytes=1048576", "--replay=1000", "--client-queue=8388608", prog}
	s := startServer(t, append([]string{"--metrics-address=" + metricsAddr}, args...)...)
	first := dial(t, s.URL("/out"))
	last := ""
	for !strings.HasPrefix(last, "300 ") {
		last = readText(t, first)
	}
	key := "wsbridge:{/out}:out"
	ents := rdb.XRange(ctx, key, "-", "+").Val()
	size := 0
	for _, e := range ents {
		for k, v := range e.Values {
			size += len(k) + len(v.(string))
		}
	}
	if size > 1<<20 || len(ents) == 0 {
		t.Fatalf("output stream holds %d bytes in %d entries, want at most 1 MiB", size, len(ents))
	}
	if counted := rdb.HGet(ctx, "wsbridge:{/out}:meta", "obytes").Val(); counted != strconv.Itoa(size) {
		t.Fatalf("meta counts %s bytes, the stream holds %d", counted, size)
	}
	trimmed := metricValue(scrapeMetrics(t, metricsAddr), `wsbridge_redis_trimmed_total{stream="out"}`)
	// 301 entries: the owner event of the program's start, then its lines.
	if trimmed != strconv.Itoa(301-len(ents)) {
		t.Fatalf(`wsbridge_redis_trimmed_total{stream="out"} %s, want %d (301 written, %d left)`, trimmed, 301-len(ents), len(ents))
	}
	// A late joiner on another instance asks for 1,000 and gets the
	// newest that are left, in order.
	late := dial(t, startServer(t, args...).URL("/out"))
	from := 300 - len(ents) + 1
	for i := from; i <= 300; i++ {
		m := readText(t, late)
		if n, _, _ := strings.Cut(m, " "); n != strconv.Itoa(i) {
			t.Fatalf("late joiner's replay: got %.12q, want message %d", m, i)
		}
	}
	expectEcho(t, late, "live")
	t.Logf("300 lines of 20 KB with --redis-stream-bytes=1048576: %d entries (%d bytes) left, %s trimmed", len(ents), size, trimmed)
}

// TestRedisHistoryExpires: a live group's keys stay however long it runs;
// --redis-history-ttl after its last activity every key of it is gone, and
// the group opened again starts a new epoch. Before, they stayed 24 hours.
func TestRedisHistoryExpires(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	rdb := redisClientOf(t, r.Addr())
	ctx := context.Background()
	s := startInstances(t, r, 1, "--redis-history-ttl=2s", "cat")[0]
	c := dial(t, s.URL("/ttl"))
	expectEcho(t, c, "hello")
	epoch := rdb.HGet(ctx, "wsbridge:{/ttl}:meta", "epoch").Val()
	time.Sleep(5 * time.Second) // the client stays, quiet
	for _, k := range []string{"meta", "out", "in", "instances", "lease"} {
		if rdb.Exists(ctx, "wsbridge:{/ttl}:"+k).Val() != 1 {
			t.Fatalf("%s of a live group expired", k)
		}
	}
	if ttl := rdb.PTTL(ctx, "wsbridge:{/ttl}:out").Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("output stream's TTL %v, want at most 2s", ttl)
	}
	expectEcho(t, c, "still here")
	c.Close(websocket.StatusNormalClosure, "")
	left := time.Now()
	pollFor(t, "the group's keys to expire", 10*time.Second, func() bool {
		return len(rdb.Keys(ctx, "wsbridge:*").Val()) == 0
	})
	t.Logf("keys gone %v after the last client left", time.Since(left).Round(100*time.Millisecond))
	c = dial(t, s.URL("/ttl"))
	expectEcho(t, c, "again")
	if e := rdb.HGet(ctx, "wsbridge:{/ttl}:meta", "epoch").Val(); e == "" || e == epoch {
		t.Fatalf("epoch %q after the history expired, was %q: want a new one", e, epoch)
	}
}

// dialRefused dials expecting a refusal and returns the response.
func dialRefused(t testing.TB, url string) *http.Response {
	t.Helper()
	_, res, err := tryDial(t, url, nil)
	if err == nil || res == nil {
		t.Fatalf("dial %s: %v, want an HTTP refusal", url, err)
	}
	return res
}

// TestBroadcastMaxGroups: --max-groups=2 without --redis: a third group
// gets 503 with Retry-After before the upgrade, logged and counted; a
// client of an open group still gets in, and a new group once one ended.
func TestBroadcastMaxGroups(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, "--broadcast", "--max-groups=2", "--metrics-address="+metricsAddr, "cat")
	a := dial(t, s.URL("/a"))
	expectEcho(t, a, "a")
	b := dial(t, s.URL("/b"))
	expectEcho(t, b, "b")
	res := dialRefused(t, s.URL("/c"))
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("third group: %d, Retry-After %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	s.waitLog(t, testTimeout, "refused", "path=/c", "reason=max-groups")
	if got := metricValue(scrapeMetrics(t, metricsAddr), `wsbridge_handshakes_refused_total{reason="max_groups"}`); got != "1" {
		t.Fatalf(`wsbridge_handshakes_refused_total{reason="max_groups"} %q, want 1`, got)
	}
	expectEcho(t, dial(t, s.URL("/a")), "a second client of /a")
	b.Close(websocket.StatusNormalClosure, "")
	pollFor(t, "/c let in once /b ended", testTimeout, func() bool {
		c, _, err := tryDial(t, s.URL("/c"), nil)
		if err != nil {
			return false
		}
		expectEcho(t, c, "c")
		return true
	})
}

// TestRedisMaxGroupsClusterWide: with --redis the groups are counted in
// the cluster: two instances with one group each, and a third group on
// either gets 503, with Retry-After saying when the first count ends;
// a client of a group counted on the other instance gets in.
func TestRedisMaxGroupsClusterWide(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	ss := startInstances(t, r, 2, "--max-groups=2", "--redis-history-ttl=30s", "cat")
	expectEcho(t, dial(t, ss[0].URL("/a")), "a")
	expectEcho(t, dial(t, ss[1].URL("/b")), "b")
	res := dialRefused(t, ss[0].URL("/c"))
	after, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != http.StatusServiceUnavailable || after < 1 || after > 30 {
		t.Fatalf("third group: %d, Retry-After %q; want 503 within the TTL", res.StatusCode, res.Header.Get("Retry-After"))
	}
	ss[0].waitLog(t, testTimeout, "refused", "path=/c", "reason=max-groups", "scope=cluster")
	expectEcho(t, dial(t, ss[0].URL("/b")), "b on the other instance")
}

// The new flags' errors name them.
func TestRedisLimitFlagErrors(t *testing.T) {
	t.Parallel()
	redisURL := "--redis=redis://127.0.0.1:1/0"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-groups=5", "cat"}, "--max-groups needs --broadcast"},
		{[]string{"--broadcast", "--max-groups=-1", "cat"}, "--max-groups=-1"},
		{[]string{"--broadcast", "--redis-stream-bytes=2097152", "cat"}, "--redis-stream-bytes needs --redis"},
		{[]string{"--broadcast", "--redis-history-ttl=2h", "cat"}, "--redis-history-ttl needs --redis"},
		{[]string{"--broadcast", redisURL, "--redis-stream-bytes=1000", "cat"}, "--redis-stream-bytes=1000"},
		{[]string{"--broadcast", redisURL, "--lease=10s", "--redis-history-ttl=5s", "cat"}, "--redis-history-ttl=5s"},
	} {
		code, out := runWsbridge(t, nil, tc.args...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("wsbridge %q: exit %d, output %q; want an error naming %s", tc.args, code, out, tc.want)
		}
	}
}
