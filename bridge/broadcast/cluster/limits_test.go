package cluster_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster/redistest"
)

// The bounds on what a group keeps in Redis (issue 21): input deleted once
// written, streams bounded in bytes, keys that expire, a count of groups.

const roomKeys = "wsbridge:{/room}:"

func redisClient(t *testing.T, r *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// streamBytes sums what the scripts count for each entry of a stream.
func streamBytes(t *testing.T, rdb *redis.Client, key string) (int, int) {
	t.Helper()
	ents, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		for k, v := range e.Values {
			n += len(k) + len(v.(string))
		}
	}
	return n, len(ents)
}

// TestClusterInputDeletedOnceWritten: input leaves Redis as soon as the
// owner has written it to its program, and its byte count goes back to 0.
func TestClusterInputDeletedOnceWritten(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	rdb := redisClient(t, r)
	// A lease long enough that a loaded machine does not lose it.
	a := join(t, r.URL(), cluster.Options{Lease: 3 * time.Second})
	owner(t, a)
	big := bytes.Repeat([]byte("x"), 100<<10)
	for range 50 {
		a.g.Send(cluster.Input{Kind: cluster.ClientMessage, Client: "c", Data: big})
	}
	waitFor(t, "50 inputs on the owner", 20*time.Second, func() bool { return a.p.inputCount(cluster.ClientMessage) == 50 })
	ctx := context.Background()
	waitFor(t, "an empty input stream", 20*time.Second, func() bool {
		n, err := rdb.XLen(ctx, roomKeys+"in").Result()
		return err == nil && n == 0
	})
	if b, _ := rdb.HGet(ctx, roomKeys+"meta", "ibytes").Result(); b != "0" {
		t.Fatalf("ibytes %q once the input was written, want 0", b)
	}
	if a.obs.trimmedIn.Load() != 0 {
		t.Fatalf("%d input entries trimmed, want none", a.obs.trimmedIn.Load())
	}
}

// TestClusterInputBoundedUnread: input that no owner consumes (no instance
// has clients, so none bids) is bounded by StreamBytes, the oldest
// dropped and counted.
func TestClusterInputBoundedUnread(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	rdb := redisClient(t, r)
	obs := &counter{}
	e, err := cluster.New(cluster.Options{URL: r.URL(), Lease: 900 * time.Millisecond, StreamBytes: 64 << 10, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	g, err := e.Open("/room", &fakeProgram{}) // no clients: no bid
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 10<<10)
	for range 30 {
		g.Send(cluster.Input{Kind: cluster.ClientMessage, Client: "c", Data: big})
	}
	waitFor(t, "input trimmed", 10*time.Second, func() bool { return obs.trimmedIn.Load() > 0 })
	// At least 30: a write retried after a timeout (under load) is in the
	// stream twice.
	waitFor(t, "30 inputs written", 10*time.Second, func() bool {
		return obs.trimmedIn.Load()+int64(must(rdb.XLen(context.Background(), roomKeys+"in").Result())) >= 30
	})
	size, n := streamBytes(t, rdb, roomKeys+"in")
	if size > 64<<10 || n == 0 {
		t.Fatalf("input stream holds %d bytes in %d entries, want at most 64 KiB", size, n)
	}
	if got := must(rdb.HGet(context.Background(), roomKeys+"meta", "ibytes").Result()); got != strconv.Itoa(size) {
		t.Fatalf("ibytes %s, stream holds %d", got, size)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestClusterOutputBoundedInBytes: the output stream holds at most
// StreamBytes, the newest kept, the oldest trimmed and counted, and the
// meta hash's count is the stream's size.
func TestClusterOutputBoundedInBytes(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	rdb := redisClient(t, r)
	a := join(t, r.URL(), cluster.Options{StreamBytes: 64 << 10})
	owner(t, a)
	outputPaced(t, a, 0, 100)
	size, n := streamBytes(t, rdb, roomKeys+"out")
	if size > 64<<10 || n < 10 {
		t.Fatalf("output stream holds %d bytes in %d entries, want at most 64 KiB and the newest", size, n)
	}
	if got := must(rdb.HGet(context.Background(), roomKeys+"meta", "obytes").Result()); got != strconv.Itoa(size) {
		t.Fatalf("obytes %s, stream holds %d", got, size)
	}
	// At least: an append retried after a timeout (under load) is in the
	// stream twice, and trimmed twice.
	if got := a.obs.trimmedOut.Load(); got < int64(100-n) {
		t.Fatalf("%d counted as trimmed, %d of 100 left", got, n)
	}
	newest := must(rdb.XRevRangeN(context.Background(), roomKeys+"out", "+", "-", 1).Result())
	if m, _ := newest[0].Values["m"].(string); len(m) < 3 || m[:3] != "a99" {
		t.Fatalf("newest entry %q, want message 99", m[:min(len(m), 8)])
	}
}

// outputPaced has the owner write n messages of 4 KiB, each once the one
// before reached its own reader: a batch larger than the stream's bound
// would be trimmed before any reader saw it. had is what it got before.
func outputPaced(t *testing.T, o *member, had, n int) {
	t.Helper()
	for i := range n {
		o.g.Output(cluster.Message{Kind: cluster.ToAll, Data: append([]byte(strconv.Itoa(i)+" "), make([]byte, 4<<10)...)})
		waitFor(t, "message "+strconv.Itoa(i), 5*time.Second, func() bool { return len(o.p.got()) == had+i+1 })
	}
}

// holdingProgram is a fakeProgram whose deliveries wait while held: its
// instance's reader falls behind the stream.
type holdingProgram struct {
	fakeProgram
	hold chan struct{}
}

func (p *holdingProgram) Deliver(ms []cluster.Message) {
	<-p.hold
	p.fakeProgram.Deliver(ms)
}

// TestClusterTrimmedHistoryIsAGap: an instance whose reader fell behind
// what the byte bound kept counts the trimmed messages as missed, and with
// --envelope the owner's program gets a gap event, as for any loss.
func TestClusterTrimmedHistoryIsAGap(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	opts := cluster.Options{StreamBytes: 64 << 10, Envelope: true}
	a := join(t, r.URL(), opts)
	owner(t, a)
	a.g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte("first")})
	waitFor(t, "first on a", 5*time.Second, func() bool { return len(a.p.got()) == 1 })

	opts.URL, opts.Lease = r.URL(), 900*time.Millisecond
	obs := &counter{}
	opts.Observer = obs
	e, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p := &holdingProgram{hold: make(chan struct{})}
	var release sync.Once
	let := func() { release.Do(func() { close(p.hold) }) }
	t.Cleanup(func() { let(); e.Close() })
	g, err := e.Open("/room", p)
	if err != nil {
		t.Fatal(err)
	}
	p.g.Store(g)
	g.SetClients(1)
	a.g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte("second")})
	time.Sleep(300 * time.Millisecond) // b's reader holds "second", undelivered
	outputPaced(t, a, 2, 100)
	let()
	waitFor(t, "the last message on b", 10*time.Second, func() bool {
		got := p.got()
		return len(got) > 0 && len(got[len(got)-1]) > 5 && got[len(got)-1][:5] == "a:99 "
	})
	// The offsets of what b got (second is 2, message i is i+3) jump by
	// what it missed.
	missed, prev := 0, 0
	for _, m := range p.got() {
		off := 2
		if m != "a:second" {
			i, _, _ := strings.Cut(strings.TrimPrefix(m, "a:"), " ")
			off = must(strconv.Atoi(i)) + 3
		}
		if prev > 0 {
			missed += off - prev - 1
		}
		prev = off
	}
	if missed == 0 || obs.dropped.Load() != int64(missed) {
		t.Fatalf("b missed %d of what it got and counted %d: %.8q...", missed, obs.dropped.Load(), p.got()[:min(len(p.got()), 5)])
	}
	waitFor(t, "a gap event on the owner", 5*time.Second, func() bool { return a.p.inputCount(cluster.Gap) > 0 })
}

// TestClusterKeysExpire: a group's keys stay while it has an owner, and
// expire HistoryTTL after its last activity; opened again, it starts a new
// epoch.
func TestClusterKeysExpire(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	rdb := redisClient(t, r)
	ctx := context.Background()
	opts := cluster.Options{Lease: 1500 * time.Millisecond, HistoryTTL: 3 * time.Second, MaxGroups: 10}
	a := join(t, r.URL(), opts)
	owner(t, a)
	a.g.Send(cluster.Input{Kind: cluster.ClientMessage, Client: "c", Data: []byte("hello")})
	waitFor(t, "the echo", 5*time.Second, func() bool { return len(a.p.got()) == 1 })
	epoch := must(rdb.HGet(ctx, roomKeys+"meta", "epoch").Result())
	time.Sleep(2 * opts.HistoryTTL) // no messages, only renewals
	for _, k := range []string{"meta", "out", "instances", "lease"} {
		if n := must(rdb.Exists(ctx, roomKeys+k).Result()); n != 1 {
			t.Fatalf("%s of a live group expired", k)
		}
	}
	if ttl := must(rdb.PTTL(ctx, roomKeys+"out").Result()); ttl <= 0 || ttl > opts.HistoryTTL {
		t.Fatalf("output stream's TTL %v, want at most %v", ttl, opts.HistoryTTL)
	}
	a.e.Close()
	closed := time.Now()
	waitFor(t, "every key gone", 10*time.Second, func() bool {
		keys := must(rdb.Keys(ctx, "wsbridge:*").Result())
		return len(keys) == 0
	})
	if d := time.Since(closed); d < opts.HistoryTTL-opts.Lease/2 {
		t.Fatalf("keys gone %v after the last activity, want about %v", d, opts.HistoryTTL)
	}
	b := join(t, r.URL(), opts)
	owner(t, b)
	b.g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte("again")})
	waitFor(t, "again", 5*time.Second, func() bool { return len(b.p.got()) == 1 })
	if e2 := must(rdb.HGet(ctx, roomKeys+"meta", "epoch").Result()); e2 == epoch {
		t.Fatalf("epoch %s again after the history expired, want a new one", e2)
	}
}

// TestClusterMaxGroups: the cluster counts its groups; a new one beyond
// MaxGroups is refused with the time until the first count ends, a
// counted one is admitted, and an owned group stays counted past the TTL.
func TestClusterMaxGroups(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	ctx := context.Background()
	opts := cluster.Options{Lease: 1500 * time.Millisecond, HistoryTTL: 3 * time.Second, MaxGroups: 2}
	a := join(t, r.URL(), opts) // opens /room, but counting is the caller's
	owner(t, a)
	admit := func(key string) (bool, time.Duration) {
		t.Helper()
		ok, retry, err := a.e.AdmitGroup(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok, retry
	}
	if ok, _ := admit("/room"); !ok {
		t.Fatal("first group refused")
	}
	if ok, _ := admit("/b"); !ok {
		t.Fatal("second group refused")
	}
	ok, retry := admit("/c")
	if ok || retry <= 0 || retry > opts.HistoryTTL {
		t.Fatalf("third group: admitted %t, retry after %v", ok, retry)
	}
	if ok, _ := admit("/b"); !ok {
		t.Fatal("a counted group refused")
	}
	// /b's count ends; /room's owner keeps its own.
	time.Sleep(2 * opts.HistoryTTL)
	if ok, _ := admit("/c"); !ok {
		t.Fatal("/c refused after /b's count ended")
	}
	if ok, _ := admit("/d"); ok {
		t.Fatal("/d admitted: the owned group's count ended")
	}
}
