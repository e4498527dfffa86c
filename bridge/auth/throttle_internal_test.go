package auth

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestFailureThrottle(t *testing.T) {
	t.Parallel()
	f := newFailureThrottle()
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	t0 := time.Unix(1000, 0)
	for i := range failureLimit {
		if _, blocked := f.blocked(a, t0); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		f.fail(a, t0.Add(time.Duration(i)*time.Second))
	}
	wait, blocked := f.blocked(a, t0.Add(15*time.Second))
	if !blocked || wait != 45*time.Second {
		t.Errorf("after %d failures: blocked %v, retry after %v; want true, 45s", failureLimit, blocked, wait)
	}
	if _, blocked := f.blocked(b, t0.Add(15*time.Second)); blocked {
		t.Error("another address blocked")
	}
	if _, blocked := f.blocked(a, t0.Add(failureWindow)); blocked {
		t.Error("still blocked once the window ended")
	}
	if n := f.len(); n != 0 {
		t.Errorf("an ended window is kept: %d entries", n)
	}
}

func TestFailureThrottleBounded(t *testing.T) {
	t.Parallel()
	f := newFailureThrottle()
	f.size = 100
	t0 := time.Unix(1000, 0)
	for i := range 1000 {
		f.fail(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), t0)
	}
	if n := f.len(); n > f.size {
		t.Errorf("%d entries, bound %d", n, f.size)
	}
	// Ended windows make room first.
	later := t0.Add(failureWindow)
	f.fail(netip.MustParseAddr("192.0.2.9"), later)
	if n := f.len(); n != 1 {
		t.Errorf("%d entries after the windows ended, want 1", n)
	}
}

// basicWithBcrypt is a Basic with dave:hashed-secret as a bcrypt hash and
// alice:plain as a plain password.
func basicWithBcrypt(t *testing.T) *Basic {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(file, []byte("dave:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := NewBasic(BasicOptions{Credentials: []string{"alice:plain"}, Files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestBcryptSuccessCached(t *testing.T) {
	t.Parallel()
	a := basicWithBcrypt(t)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	for i := range 3 {
		if !a.Verify("dave", "hashed-secret") {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if n := a.bcryptRuns.Load(); n != 1 {
		t.Errorf("%d bcrypt runs for three successes, want 1", n)
	}
	// A wrong password is never cached.
	a.Verify("dave", "wrong")
	a.Verify("dave", "wrong")
	if n := a.bcryptRuns.Load(); n != 3 {
		t.Errorf("%d bcrypt runs, want 3", n)
	}
	now = now.Add(TokenTTL)
	a.Verify("dave", "hashed-secret")
	if n := a.bcryptRuns.Load(); n != 4 {
		t.Errorf("after the TTL: %d bcrypt runs, want 4", n)
	}
}

func TestMiddlewareThrottlesFailures(t *testing.T) {
	t.Parallel()
	a := basicWithBcrypt(t)
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	do := func(remote, user, password string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range failureLimit {
		if w := do("192.0.2.1:5000", "dave", fmt.Sprint("guess", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, w.Code)
		}
	}
	runs := a.bcryptRuns.Load()
	w := do("192.0.2.1:5001", "dave", "guess")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("attempt %d: %d, want 429", failureLimit+1, w.Code)
	}
	if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	// Not even the right password is checked from there.
	if w := do("192.0.2.1:5002", "dave", "hashed-secret"); w.Code != http.StatusTooManyRequests {
		t.Errorf("right password from the throttled address: %d, want 429", w.Code)
	}
	if n := a.bcryptRuns.Load(); n != runs {
		t.Errorf("bcrypt ran %d times for throttled requests", n-runs)
	}
	// Another address, and another address of the same IPv6 /64.
	if w := do("192.0.2.2:5000", "dave", "hashed-secret"); w.Code != http.StatusOK {
		t.Errorf("other address: %d, want 200", w.Code)
	}
	for i := range failureLimit {
		do(fmt.Sprintf("[2001:db8::%x]:5000", i+1), "alice", "guess")
	}
	if w := do("[2001:db8::ffff]:5000", "alice", "plain"); w.Code != http.StatusTooManyRequests {
		t.Errorf("same /64: %d, want 429", w.Code)
	}
	if w := do("[2001:db8:0:1::1]:5000", "alice", "plain"); w.Code != http.StatusOK {
		t.Errorf("another /64: %d, want 200", w.Code)
	}
}
