package cluster_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster/redistest"
)

// sentinel is the package's one Sentinel topology (about 7 s to start).
var sentinel = redistest.NewFixture(redistest.StartSentinel)

func TestMain(m *testing.M) {
	code := m.Run()
	sentinel.Stop()
	os.Exit(code)
}

// sentinelOptions connects an engine through the shared Sentinel; prefix
// keeps each test's keys apart.
func sentinelOptions(t *testing.T, prefix string, lease time.Duration) (cluster.Options, *redis.Client) {
	s := sentinel.Get(t)
	n, err := cluster.ParseNodes(s.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.Name, SentinelAddrs: n.Addrs, DisableIdentity: true, Protocol: 2})
	t.Cleanup(func() { rdb.Close() })
	return cluster.Options{Sentinel: &n, MasterName: s.Name, Prefix: prefix, Lease: lease}, rdb
}

// life records when a program ran.
type life struct {
	mu         sync.Mutex
	start, end time.Time
}

func (l *life) set(start bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if start && l.start.IsZero() {
		l.start = time.Now()
	}
	if !start && l.end.IsZero() {
		l.end = time.Now()
	}
}

func (l *life) get() (time.Time, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start, l.end
}

// timedProgram is a fakeProgram that records when it started and stopped.
type timedProgram struct {
	*fakeProgram
	life life
}

func (p *timedProgram) Start() error { p.life.set(true); return p.fakeProgram.Start() }
func (p *timedProgram) Stop(now bool) <-chan struct{} {
	p.life.set(false)
	return p.fakeProgram.Stop(now)
}

func openTimed(t *testing.T, opts cluster.Options) (*cluster.Engine, *cluster.Group, *timedProgram) {
	t.Helper()
	e, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	p := &timedProgram{fakeProgram: &fakeProgram{}}
	g, err := e.Open("/room", p)
	if err != nil {
		t.Fatal(err)
	}
	p.g.Store(g)
	g.SetClients(1)
	return e, g, p
}

// TestFailoverLostRenewalNeverTwoPrograms: the lease goes backwards, as
// when Sentinel promotes a replica that missed the owner's last renewal,
// and the owner is cut off Redis at that moment (it was on the old
// master). Neither the instance that bids all along nor one that opens the
// group just as the older lease expires may start the program before the
// old owner's is gone.
func TestFailoverLostRenewalNeverTwoPrograms(t *testing.T) {
	lease := 3 * time.Second
	opts, rdb := sentinelOptions(t, "fence"+strconv.FormatInt(time.Now().UnixNano(), 36), lease)
	keyLease, keyMeta := opts.Prefix+":{/room}:lease", opts.Prefix+":{/room}:meta"
	ea, ga, pa := openTimed(t, opts)
	waitFor(t, "a owns the group", 10*time.Second, ga.Owner)
	_, gb, pb := openTimed(t, opts)
	ctx := context.Background()

	// Wait for a renewal, then take it back: the lease and its 'renewed'
	// mark as the renewal before left them.
	first, err := rdb.HGet(ctx, keyMeta, "renewed").Int64()
	if err != nil {
		t.Fatal(err)
	}
	var renewed int64
	waitFor(t, "a renewal", 5*time.Second, func() bool {
		renewed, _ = rdb.HGet(ctx, keyMeta, "renewed").Int64()
		return renewed > first
	})
	lost := time.Now()
	ea.Abandon()
	interval := lease / 3
	pttl, err := rdb.PTTL(ctx, keyLease).Result()
	if err != nil || pttl <= interval {
		t.Fatalf("lease pttl %v, %v", pttl, err)
	}
	if err := rdb.PExpire(ctx, keyLease, pttl-interval).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, keyMeta, "renewed", renewed-interval.Milliseconds()).Err(); err != nil {
		t.Fatal(err)
	}

	// A newcomer arrives once the older lease has expired.
	waitFor(t, "the older lease to expire", lease, func() bool { return rdb.Exists(ctx, keyLease).Val() == 0 })
	_, gc, pc := openTimed(t, opts)

	waitFor(t, "a new owner", 3*lease, func() bool { return gb.Owner() || gc.Owner() })
	_, aEnd := pa.life.get()
	if aEnd.IsZero() {
		t.Fatal("a new owner while the old program still runs")
	}
	for name, p := range map[string]*timedProgram{"b": pb, "c": pc} {
		if s, _ := p.life.get(); !s.IsZero() && !s.After(aEnd) {
			t.Fatalf("%s started its program %v before the old one stopped", name, aEnd.Sub(s))
		}
	}
	newStart, _ := pb.life.get()
	if s, _ := pc.life.get(); newStart.IsZero() || (!s.IsZero() && s.Before(newStart)) {
		newStart = s
	}
	t.Logf("renewal lost at 0; old program killed at %v, new one started at %v", aEnd.Sub(lost), newStart.Sub(lost))
}

// TestFailoverLostOutputRewritten: the stream loses its last appends, as
// a replica promoted before it had them shows it; the owner finds its
// offset behind, writes again what its buffer still has, and counts and
// announces what it had no more.
func TestFailoverLostOutputRewritten(t *testing.T) {
	for _, tc := range []struct {
		name   string
		buffer int  // bytes of output the owner keeps
		loses  bool // the buffer no longer has all the stream lost
	}{
		{"all kept", 1 << 20, false},
		{"some gone", 4096, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, rdb := sentinelOptions(t, "lost"+strconv.FormatInt(time.Now().UnixNano(), 36), 3*time.Second)
			opts.Buffer, opts.Envelope = tc.buffer, true
			keyOut, keyMeta := opts.Prefix+":{/room}:out", opts.Prefix+":{/room}:meta"
			obs := &counter{}
			opts.Observer = obs
			_, g, p := openTimed(t, opts)
			waitFor(t, "ownership", 10*time.Second, g.Owner)
			// 100 messages of 100 bytes: a 4 KiB buffer keeps the last ~40.
			for i := range 100 {
				g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte(strconv.Itoa(i) + ":" + string(make([]byte, 100)))})
			}
			ctx := context.Background()
			waitFor(t, "100 messages in the stream", 10*time.Second, func() bool {
				off, _ := rdb.HGet(ctx, keyMeta, "offset").Int64()
				return off == 100
			})
			// The stream as the new master has it: the last 60 missing.
			const cut = 60
			ents, err := rdb.XRange(ctx, keyOut, "-", "+").Result()
			if err != nil || len(ents) != 100 {
				t.Fatalf("%d entries, %v", len(ents), err)
			}
			for _, e := range ents[100-cut:] {
				rdb.XDel(ctx, keyOut, e.ID)
			}
			rdb.HSet(ctx, keyMeta, "offset", 100-cut)

			waitFor(t, "the stream repaired", 10*time.Second, func() bool {
				off, _ := rdb.HGet(ctx, keyMeta, "offset").Int64()
				return off == 100 && obs.rewritten.Load() > 0
			})
			ents, err = rdb.XRange(ctx, keyOut, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			var offsets []int
			for _, e := range ents {
				o, _ := strconv.Atoi(e.Values["o"].(string))
				offsets = append(offsets, o)
			}
			lost := obs.lostFailover.Load()
			if (lost > 0) != tc.loses {
				t.Fatalf("%d counted lost", lost)
			}
			if got := obs.rewritten.Load(); got+lost != cut {
				t.Fatalf("%d rewritten and %d lost, want %d in all", got, lost, cut)
			}
			kept := 100 - int(lost)
			if len(offsets) != kept {
				t.Fatalf("%d entries after the repair, want %d: %v", len(offsets), kept, offsets)
			}
			for i := 1; i < len(offsets); i++ {
				if offsets[i] <= offsets[i-1] {
					t.Fatalf("offsets out of order: %v", offsets)
				}
			}
			if tc.loses {
				waitFor(t, "a gap event", 5*time.Second, func() bool { return p.inputCount(cluster.Gap) > 0 })
			}
		})
	}
}
