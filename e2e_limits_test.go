package main_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// dialAs opens a session at url as the client address ip, forwarded by a
// --trusted-proxy (the test, on loopback): the connection, or nil and the
// HTTP status with the response's Retry-After.
func dialAs(t *testing.T, url, ip string) (*websocket.Conn, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {ip}}})
	if err != nil {
		if res == nil {
			t.Fatalf("dial as %s: %v", ip, err)
		}
		return nil, res.StatusCode, res.Header.Get("Retry-After")
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, http.StatusSwitchingProtocols, ""
}

// TestLimitsConnRate: --conn-rate lets a client address open N sessions
// per period, then answers 429 with the wait until the next as
// Retry-After, before the upgrade; other addresses are not affected, and
// the refusals of it and of --max-conns-per-ip are logged and counted by
// reason.
func TestLimitsConnRate(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, "--conn-rate=3/1m", "--max-conns-per-ip=2", "--trusted-proxy=127.0.0.1/32",
		"--metrics-address="+metricsAddr, "cat")
	// Three sessions one after the other (each closed, so the per-address
	// session limit of 2 is not what stops the fourth).
	for i := range 3 {
		c, code, _ := dialAs(t, s.URL("/"), "203.0.113.7")
		if code != 101 {
			t.Fatalf("session %d of the burst: HTTP %d", i+1, code)
		}
		expectEcho(t, c, "hi")
		c.Close(websocket.StatusNormalClosure, "")
	}
	_, code, retry := dialAs(t, s.URL("/"), "203.0.113.7")
	if code != http.StatusTooManyRequests {
		t.Fatalf("4th session within the minute: HTTP %d, want 429", code)
	}
	// A token comes back every 20 s.
	if n, err := strconv.Atoi(retry); err != nil || n < 15 || n > 20 {
		t.Errorf("Retry-After %q, want about 20 (seconds until the next token)", retry)
	}
	s.waitLog(t, testTimeout, "msg=refused", `reason="sessions opened too fast from this address"`, "conn_rate=3/1m0s")
	// Another address has its own bucket; an IPv6 /64 is one client.
	if _, code, _ := dialAs(t, s.URL("/"), "203.0.113.8"); code != 101 {
		t.Errorf("another client: HTTP %d, want 101", code)
	}
	// --max-conns-per-ip, counted too: two open sessions of one client.
	dialAs(t, s.URL("/"), "2001:db8::1")
	dialAs(t, s.URL("/"), "2001:db8::2")
	if _, code, _ := dialAs(t, s.URL("/"), "2001:db8::3"); code != http.StatusTooManyRequests {
		t.Errorf("third open session of a /64: HTTP %d, want 429", code)
	}
	body := scrapeMetrics(t, metricsAddr)
	for name, want := range map[string]string{
		`wsbridge_handshakes_refused_total{reason="conn_rate"}`: "1",
		`wsbridge_handshakes_refused_total{reason="per_ip"}`:    "1",
	} {
		if got := metricValue(body, name); got != want {
			t.Errorf("%s = %q, want %s", name, got, want)
		}
	}
}

// TestLimitsMsgRate: past --msg-rate a pipe client is closed with 1008
// "rate limit" after the messages within it were answered; with
// --msg-rate-mode=drop the extra messages never reach the program, the
// client stays, and the drops are counted.
func TestLimitsMsgRate(t *testing.T) {
	t.Parallel()
	t.Run("close", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "--msg-rate=3/1m", "cat")
		c := dial(t, s.URL("/"))
		for i := range 4 {
			writeText(t, c, fmt.Sprint("m", i+1))
		}
		got, code, reason := readUntilClose(t, c)
		if strings.Join(got, ",") != "m1,m2,m3" || code != websocket.StatusPolicyViolation || !strings.HasPrefix(reason, "rate limit") {
			t.Fatalf("got %q, close %d %q; want m1..m3, then 1008 \"rate limit...\"", got, code, reason)
		}
		s.waitLog(t, testTimeout, "client over --msg-rate: closing")
	})
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		s := startServer(t, "--msg-rate=3/3s", "--msg-rate-mode=drop", "--metrics-address="+metricsAddr, "cat")
		c := dial(t, s.URL("/"))
		for i := range 5 {
			writeText(t, c, fmt.Sprint("m", i+1))
		}
		for i := range 3 {
			if got := readText(t, c); got != fmt.Sprint("m", i+1) {
				t.Fatalf("message %d: %q", i+1, got)
			}
		}
		time.Sleep(1100 * time.Millisecond) // one token back
		writeText(t, c, "m6")
		if got := readText(t, c); got != "m6" {
			t.Fatalf("after the drops: %q, want m6 (m4 and m5 dropped)", got)
		}
		if v := metricValue(scrapeMetrics(t, metricsAddr), `wsbridge_messages_dropped_total{reason="msg_rate"}`); v != "2" {
			t.Errorf("drops counted %q, want 2", v)
		}
	})
	t.Run("broadcast", func(t *testing.T) {
		t.Parallel()
		// One noisy client of a shared program is closed; the other goes on.
		s := startServer(t, "--broadcast", "--msg-rate=3/1m", "cat")
		noisy, quiet := dial(t, s.URL("/room")), dial(t, s.URL("/room"))
		writeText(t, quiet, "q1")
		if got := readText(t, quiet); got != "q1" {
			t.Fatalf("quiet client: %q", got)
		}
		for i := range 4 {
			writeText(t, noisy, fmt.Sprint("n", i+1))
		}
		_, code, _ := readUntilClose(t, noisy)
		if code != websocket.StatusPolicyViolation {
			t.Fatalf("noisy client closed %d, want 1008", code)
		}
		var seen []string
		for len(seen) < 3 {
			seen = append(seen, readText(t, quiet))
		}
		if strings.Join(seen, ",") != "n1,n2,n3" {
			t.Fatalf("the quiet client saw %q, want n1..n3", seen)
		}
		writeText(t, quiet, "q2")
		if got := readText(t, quiet); got != "q2" {
			t.Fatalf("quiet client after the noisy one left: %q", got)
		}
	})
}

// TestLimitsIdleTimeout: a session with neither input nor output for
// --idle-timeout ends with 4408 "idle" and its program is stopped; a
// session with traffic is not touched; a broadcast client is closed alone.
func TestLimitsIdleTimeout(t *testing.T) {
	t.Parallel()
	t.Run("pipe", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "--idle-timeout=1s", "sh", "-c", `echo "pid $$"; exec cat`)
		c := dial(t, s.URL("/"))
		pid := pidOf(t, readText(t, c))
		// Traffic for twice the timeout keeps it.
		for range 6 {
			time.Sleep(300 * time.Millisecond)
			expectEcho(t, c, "alive")
		}
		start := time.Now()
		_, code, reason := readUntilClose(t, c)
		if code != 4408 || reason != "idle for 1s" {
			t.Fatalf("close %d %q, want 4408 \"idle for 1s\"", code, reason)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("closed %v after the last message, want about 1s", d)
		}
		awaitGone(t, pid, 10*time.Second)
		s.waitLog(t, testTimeout, "idle: no input and no output for --idle-timeout")
	})
	t.Run("terminal", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "--terminal", "--writable", "--shared", "--idle-timeout=1s", "sh", "-c", `echo started; exec cat`)
		a := ttyDial(t, s.URL("/"), nil)
		a.waitOutput("started")
		b := ttyDial(t, s.URL("/"), nil)
		b.waitControl("live")
		// Either client's keys keep the shared terminal alive.
		for i := range 6 {
			time.Sleep(300 * time.Millisecond)
			b.send(fmt.Sprintf("k%d\r", i))
			a.waitOutput(fmt.Sprintf("k%d", i))
		}
		for _, c := range []*ttyConn{a, b} {
			if code, why := c.untilClose(); code != 4408 || why != "idle for 1s" {
				t.Fatalf("close %d %q, want 4408 \"idle for 1s\"", code, why)
			}
		}
	})
	t.Run("broadcast", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "--broadcast", "--idle-timeout=1s", "sh", "-c", "while read line; do :; done")
		busy, idle := dial(t, s.URL("/g")), dial(t, s.URL("/g"))
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 10 {
				time.Sleep(250 * time.Millisecond)
				if busy.Write(context.Background(), websocket.MessageText, []byte("tick")) != nil {
					return
				}
			}
		}()
		_, code, _ := readUntilClose(t, idle)
		if code != 4408 {
			t.Fatalf("idle client closed %d, want 4408", code)
		}
		<-done
		// The busy one was never idle, so it is still there.
		if err := busy.Write(context.Background(), websocket.MessageText, []byte("still")); err != nil {
			t.Fatalf("the busy client was closed too: %v", err)
		}
	})
}

// watchURLRE finds the read-only link of a shared terminal's token.
var watchURLRE = regexp.MustCompile(`http://(\S+?)/\?token=([a-z2-7]{26})\b`)

// TestLimitsReadOnlyLink: a shared writable terminal behind an access token
// prints a second, read-only link. A page opened with it is told it
// watches; its keys are dropped and counted and never reach the program,
// and its size does not resize the terminal.
func TestLimitsReadOnlyLink(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s, addr := startOnAllInterfaces(t, "--terminal", "--writable", "--shared", "--metrics-address="+metricsAddr,
		"sh", "-c", `echo started; while read line; do echo "got=$line size=$(stty size)"; done`)
	m := s.match(testTimeout, tokenURLRE)
	w := s.match(testTimeout, watchURLRE)
	if m == nil || w == nil {
		t.Fatalf("want a writable and a read-only URL:\n%s", s.Stderr())
	}
	if !strings.Contains(s.Stderr(), "read-only link") {
		t.Errorf("the read-only link is not introduced as one:\n%s", s.Stderr())
	}
	writer := ttyDial(t, "ws://"+addr+"/?cols=100&rows=30&token="+m[2], nil)
	writer.waitOutput("started")
	if h := writer.waitControl("hello"); !h.Writable || h.Watcher {
		t.Fatalf("writer's hello %+v", h)
	}
	watcher := ttyDial(t, "ws://"+addr+"/?cols=40&rows=10&token="+w[2], nil)
	if h := watcher.waitControl("hello"); h.Writable || !h.Watcher {
		t.Fatalf("watcher's hello %+v, want writable false, watcher true", h)
	}
	watcher.waitControl("live")
	watcher.send("evil\r")
	watcher.control(`{"type":"resize","cols":20,"rows":5}`)
	writer.send("ok\r")
	for _, c := range []*ttyConn{writer, watcher} {
		c.waitOutput(`got=ok size=30 100`)
		if strings.Contains(c.out.String(), "evil") {
			t.Fatalf("the watcher's keys reached the program:\n%q", c.out.String())
		}
	}
	if v := metricValue(scrapeMetrics(t, metricsAddr), `wsbridge_messages_dropped_total{reason="read_only"}`); v == "" || v == "0" {
		t.Errorf("the watcher's input was not counted as dropped: %q", v)
	}
	// Without the token, neither link: still 403.
	if code := dialStatus(t, "ws://"+addr+"/?token="+strings.ToUpper(w[2]), &websocket.DialOptions{Subprotocols: []string{ttyProto}}); code != http.StatusForbidden {
		t.Errorf("a wrong token: HTTP %d, want 403", code)
	}
}

// TestLimitsWriters: with credentials, --writers says who types; the other
// users watch.
func TestLimitsWriters(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--terminal", "--writable", "--shared", "--credential=alice:wonderland", "--credential=bob:builder",
		"--writers=alice", "sh", "-c", `echo started; while read line; do echo "got=$line user=$REMOTE_USER"; done`)
	alice := ttyDial(t, s.URL("/"), basicAuth("alice", "wonderland"))
	alice.waitOutput("started")
	if h := alice.waitControl("hello"); !h.Writable {
		t.Fatalf("alice's hello %+v, want writable", h)
	}
	bob := ttyDial(t, s.URL("/"), basicAuth("bob", "builder"))
	if h := bob.waitControl("hello"); h.Writable || !h.Watcher {
		t.Fatalf("bob's hello %+v, want a watcher", h)
	}
	bob.waitControl("live")
	bob.send("from-bob\r")
	alice.send("from-alice\r")
	bob.waitOutput("got=from-alice user=alice")
	if strings.Contains(bob.out.String(), "from-bob") {
		t.Fatalf("bob's keys reached the program")
	}
}

func TestLimitsFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--conn-rate=20", "cat"}, "--conn-rate=20: want N/DURATION"},
		{[]string{"--msg-rate=x/1s", "cat"}, "--msg-rate=x/1s: N must be"},
		{[]string{"--msg-rate-mode=bounce", "cat"}, "--msg-rate-mode"},
		{[]string{"--idle-timeout=-1s", "cat"}, "--idle-timeout=-1s: must be 0"},
		{[]string{"--writers=alice", "cat"}, "--writers needs --terminal"},
		{[]string{"--terminal", "--writers=alice", "sh"}, "need --writable"},
		{[]string{"--terminal", "--writable", "--writers=alice", "sh"}, "--writers needs an authentication"},
		{[]string{"--terminal", "--writable", "--credential=a:b", "--writers-claim=role", "sh"}, "--writers-claim=\"role\": want CLAIM:VALUE"},
	} {
		code, out := runWsbridge(t, nil, tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q; want 2 and %q", tc.args, code, out, tc.want)
		}
	}
}
