package fdbudget

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// fakeFDs is a process's descriptor table as the budget's count sees it.
type fakeFDs struct {
	open, limit, counts int
	err                 error
}

func (f *fakeFDs) count([]byte) (int, int, error) {
	f.counts++
	return f.open, f.limit, f.err
}

func TestBudget(t *testing.T) {
	t.Parallel()
	fds := &fakeFDs{open: 10, limit: 64}
	b := &Budget{Count: fds.count}
	now := time.Unix(1000, 0)
	// Room while limit 64 - estimate >= reserve 16 + PerStart 10: an
	// estimate of at most 38. Each session really holds 5.
	start := func(wantOK bool, wantCounts int) Check {
		t.Helper()
		c := b.Admit(now)
		if c.OK != wantOK || fds.counts != wantCounts {
			t.Fatalf("admit with %d open: %+v after %d counts; want ok=%v after %d", fds.open, c, fds.counts, wantOK, wantCounts)
		}
		if c.OK {
			b.Started()
			fds.open += 5
		}
		return c
	}
	// Far from the limit the estimate grows by PerStart a start, with
	// no count but the first.
	start(true, 1) // estimate 10
	start(true, 1) // 20
	start(true, 1) // 30
	// The estimate (40) says no, and the last count is too recent for
	// another: refused.
	start(false, 1)
	// Later, a count finds 25: admitted, and so is the next (estimate 35).
	now = now.Add(Recount)
	start(true, 2)
	start(true, 2)
	// 35 open, estimate 45: a count finds 35, still room.
	now = now.Add(Recount)
	start(true, 3)
	// 40 open: short, and that is news.
	now = now.Add(Recount)
	if c := start(false, 4); c.Reserve != MinReserve || c.Limit != 64 || !c.Changed || !b.Short(now) {
		t.Fatalf("40 open: %+v, short %v; want the reserve, the limit and a change", c, b.Short(now))
	}
	now = now.Add(Recount / 2)
	if c := start(false, 4); c.Changed {
		t.Fatalf("still short: %+v", c)
	}
	// Two sessions end: the estimate (36) admits again at once.
	b.Ended()
	b.Ended()
	fds.open -= 10
	if c := start(true, 4); !c.Changed || b.Short(now) {
		t.Fatalf("after two ends: %+v", c)
	}
	// A session of a kind the estimate does not see (a terminal client)
	// ends too: only a count finds the room it left.
	start(false, 4) // estimate 46
	fds.open -= 10
	now = now.Add(Recount)
	start(true, 5)
	// Readiness: short while a start would be refused, not after sessions
	// end, even with no admission to find out.
	fds.open += 10
	now = now.Add(Refresh) // the estimate has room: only a periodic count sees
	start(false, 6)
	if !b.Short(now) {
		t.Error("not short after a refusal")
	}
	fds.open -= 10
	if !b.Short(now) || fds.counts != 6 {
		t.Errorf("no longer short with no count: %d counts", fds.counts)
	}
	now = now.Add(Recount)
	if b.Short(now) || fds.counts != 7 {
		t.Errorf("still short after a count found room: %d counts", fds.counts)
	}
	// A start given back leaves the estimate as it was.
	before := b.drift
	b.Undo()
	if b.drift != before-PerStart {
		t.Errorf("undo: drift %d, want %d", b.drift, before-PerStart)
	}
}

func TestBudgetPendingStartsSurviveACount(t *testing.T) {
	t.Parallel()
	fds := &fakeFDs{open: 10, limit: 1000}
	b := &Budget{Count: fds.count}
	now := time.Unix(1000, 0)
	b.Admit(now)
	b.Admit(now)
	// A periodic count: the two admitted processes have not started, so
	// it cannot have seen them.
	b.Admit(now.Add(Refresh))
	if fds.counts != 2 || b.drift != 3*PerStart {
		t.Errorf("%d counts, drift %d; want 2 and %d", fds.counts, b.drift, 3*PerStart)
	}
}

func TestBudgetCountErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		ok     bool
		logged bool
	}{
		// Not one descriptor left to count with: refuse.
		{fmt.Errorf("count open files: %w", syscall.EMFILE), false, false},
		{fmt.Errorf("count open files: %w", syscall.ENFILE), false, false},
		// Cannot count (Windows): never refuse, and say so once.
		{fmt.Errorf("count open files: %w", syscall.ENOENT), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			t.Parallel()
			fds := &fakeFDs{limit: 64, err: tt.err}
			b := &Budget{Count: fds.count}
			c := b.Admit(time.Unix(1000, 0))
			if c.OK != tt.ok || (c.Err != nil) != tt.logged {
				t.Errorf("admit: %+v", c)
			}
			c = b.Admit(time.Unix(2000, 0))
			if c.OK != tt.ok || c.Err != nil {
				t.Errorf("admit again: %+v", c)
			}
		})
	}
}

func TestReserve(t *testing.T) {
	t.Parallel()
	for limit, want := range map[int]int{64: 16, 1024: 16, 4096: 64, 65536: 1024, 1 << 20: 1024} {
		if got := Reserve(limit); got != want {
			t.Errorf("Reserve(%d) = %d, want %d", limit, got, want)
		}
	}
}
