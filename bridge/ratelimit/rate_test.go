package ratelimit_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/ratelimit"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want ratelimit.Rate
		bad  bool
	}{
		{in: "", want: ratelimit.Rate{}},
		{in: "0", want: ratelimit.Rate{}},
		{in: "20/1m", want: ratelimit.Rate{N: 20, Per: time.Minute}},
		{in: "5/s", want: ratelimit.Rate{N: 5, Per: time.Second}},
		{in: "100/500ms", want: ratelimit.Rate{N: 100, Per: 500 * time.Millisecond}},
		{in: "20", bad: true},
		{in: "0/1m", bad: true},
		{in: "-1/1m", bad: true},
		{in: "x/1m", bad: true},
		{in: "5/0s", bad: true},
		{in: "5/fortnight", bad: true},
	} {
		got, err := ratelimit.ParseRate(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseRate(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestBucketBurstThenRefill(t *testing.T) {
	t.Parallel()
	b := ratelimit.NewBucket(ratelimit.Rate{N: 3, Per: 3 * time.Second})
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := b.Take(now); !ok {
			t.Fatalf("take %d of the burst refused", i)
		}
	}
	ok, wait := b.Take(now)
	if ok || wait != time.Second {
		t.Fatalf("4th take = %v, wait %v; want refused, wait 1s", ok, wait)
	}
	if ok, _ := b.Take(now.Add(999 * time.Millisecond)); ok {
		t.Fatal("a token came back early")
	}
	if ok, _ := b.Take(now.Add(time.Second)); !ok {
		t.Fatal("no token after its interval")
	}
	// A long pause refills to N, never more.
	later := now.Add(time.Hour)
	for i := range 3 {
		if ok, _ := b.Take(later); !ok {
			t.Fatalf("take %d after a pause refused", i)
		}
	}
	if ok, _ := b.Take(later); ok {
		t.Fatal("the burst after a pause went past N")
	}
}

func TestBucketsBoundedAndExpiring(t *testing.T) {
	t.Parallel()
	bs := ratelimit.NewBuckets(ratelimit.Rate{N: 1, Per: time.Second}, 4)
	now := time.Unix(1000, 0)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	for i := range 4 {
		if ok, _, err := bs.Take(addr(i), now); !ok || err != nil {
			t.Fatalf("client %d: %v %v", i, ok, err)
		}
	}
	if ok, wait, _ := bs.Take(addr(0), now); ok || wait != time.Second {
		t.Fatalf("second take of a client within its period: ok=%v wait=%v", ok, wait)
	}
	// A fifth client finds the table full of live entries: let through,
	// untracked, and said so.
	if ok, _, err := bs.Take(addr(9), now); !ok || !errors.Is(err, ratelimit.ErrTableFull) {
		t.Fatalf("client past the table: ok=%v err=%v", ok, err)
	}
	if n := bs.Len(); n != 4 {
		t.Fatalf("table holds %d, want 4", n)
	}
	// Once the period is over every entry is full again and gives way.
	if ok, _, err := bs.Take(addr(9), now.Add(time.Second)); !ok || err != nil {
		t.Fatalf("client after the period: ok=%v err=%v", ok, err)
	}
	if n := bs.Len(); n != 1 {
		t.Fatalf("table holds %d after the sweep, want 1", n)
	}
}
