package peerlimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "": not an address
	}{
		{"192.0.2.7", "192.0.2.7"},
		{"192.0.2.7:4711", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
		{"@", ""},
		{"", ""},
		{"unix-socket", ""},
	}
	for _, tt := range tests {
		got, ok := Key(tt.in)
		if ok != (tt.want != "") || (ok && got.String() != tt.want) {
			t.Errorf("Key(%q) = %v %v, want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestCounter(t *testing.T) {
	t.Parallel()
	c := NewCounter(2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if !c.Acquire(a) || !c.Acquire(a) {
		t.Fatal("first two refused")
	}
	if c.Acquire(a) {
		t.Error("third allowed")
	}
	if !c.Acquire(b) {
		t.Error("another client refused")
	}
	c.Release(a)
	if !c.Acquire(a) {
		t.Error("freed slot refused")
	}
	c.Release(a)
	c.Release(a)
	c.Release(b)
	if n := c.Len(); n != 0 {
		t.Errorf("%d entries left after every release", n)
	}
	unlimited := NewCounter(0)
	for range 100 {
		if !unlimited.Acquire(a) {
			t.Fatal("unlimited refused")
		}
	}
	if n := unlimited.Len(); n != 0 {
		t.Errorf("unlimited keeps %d entries", n)
	}
}

func TestSampler(t *testing.T) {
	t.Parallel()
	s := &Sampler{Every: time.Second}
	t0 := time.Unix(1000, 0)
	if ok, _ := s.Allow(t0); !ok {
		t.Fatal("first refused")
	}
	for i := range 5 {
		if ok, _ := s.Allow(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatal("allowed within the interval")
		}
	}
	ok, n := s.Allow(t0.Add(time.Second))
	if !ok || n != 5 {
		t.Errorf("after the interval: %v, %d suppressed; want true, 5", ok, n)
	}
}
