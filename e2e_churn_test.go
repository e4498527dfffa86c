//go:build unix

package main_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster/redistest"
	"github.com/wsbridge/wsbridge/bridge/gatetest/rawws"
)

// Churn (issue 15): for every session kind, batches of raw-socket clients
// are served and then leave in each of the ways real clients leave; after
// each batch the daemon must be back to what it held before (descriptors,
// goroutines, children, bounded memory) within seconds, and serve a new
// client. A broadcast client that dropped TCP without a close frame used to
// keep its socket in CLOSE-WAIT for good.

// departures are the ways a client leaves.
var departures = []string{
	"clean close",      // close frame, answer read, then TCP closed
	"reset",            // RST (SO_LINGER 0), no close frame
	"fin",              // FIN (shutdown for writing), no close frame
	"reset mid-frame",  // half a frame sent, then RST
	"stalled, reset",   // stopped reading with lots to send, then RST
	"close unanswered", // close frame sent, the answer never read
}

// churnBatch is how many clients leave together in each way.
const churnBatch = 5

// churnSettle bounds how long a daemon has to let go of a batch: a client
// that stopped reading costs coder/websocket's 5 s close timeout.
const churnSettle = 12 * time.Second

// churnKind is one session kind under churn.
type churnKind struct {
	name     string
	args     []string // the daemon's flags and program
	proto    string   // subprotocol offered
	terminal bool     // input goes in binary frames, lines end in \r
	perGroup bool     // each client on a path of its own (its own group)
	anchor   bool     // a client stays attached throughout (the shared program stays)
	redis    bool     // two daemons on one Redis; clients on the one without the program
	query    string   // added to every client's path (a JWT in ?access_token=)
	ext      string   // Sec-WebSocket-Extensions offered (compression)
}

// dial opens a client of this kind: its subprotocol and extensions.
func (k churnKind) dial(addr, path string, rcvbuf int) (*rawWS, error) {
	c, err := rawws.Dial(addr, rawws.Options{Path: path, Protocol: k.proto, Extensions: k.ext, RcvBuf: rcvbuf, Timeout: testTimeout})
	if err != nil {
		return nil, err
	}
	return &rawWS{Conn: c}, nil
}

// The envelope program answers each message to its sender only, and
// drops events.
var envelopeEcho = []string{"sed", "-u", "-n", `s/^{"client":"\([^"]*\)","data":\(.*\)}$/{"to":["\1"],"data":\2}/p`}

func TestChurn(t *testing.T) {
	t.Parallel()
	kinds := []churnKind{
		{name: "pipe", args: []string{"cat"}},
		{name: "pty", args: []string{"--pty", "cat"}},
		{name: "pipe compressed", args: []string{"--compress", "cat"}, ext: "permessage-deflate"},
		{name: "broadcast compressed", args: []string{"--broadcast", "--compress=context-takeover", "cat"}, anchor: true, ext: "permessage-deflate"},
		{name: "terminal", args: []string{"--terminal", "--writable", "cat"}, proto: ttyProto, terminal: true},
		{name: "shared terminal", args: []string{"--terminal", "--writable", "--shared", "cat"}, proto: ttyProto, terminal: true, anchor: true},
		{name: "broadcast", args: []string{"--broadcast", "cat"}, anchor: true},
		{name: "broadcast group per client", args: []string{"--broadcast", "cat"}, perGroup: true},
		{name: "broadcast envelope", args: append([]string{"--broadcast", "--envelope"}, envelopeEcho...), anchor: true},
		{name: "broadcast redis", args: []string{"--broadcast", "--lease=1s", "cat"}, anchor: true, redis: true},
		// The per-session limits hold a timer and a bucket: every way out
		// must stop the one and drop the other.
		{name: "pipe with limits", args: []string{"--idle-timeout=1m", "--msg-rate=1000/1s", "cat"}},
		{name: "broadcast with limits", args: []string{"--broadcast", "--idle-timeout=1m", "--msg-rate=1000/1s", "cat"}, anchor: true},
		{name: "broadcast v1", args: []string{"--broadcast", "--replay=2", "cat"}, proto: v1Proto, anchor: true},
		// Clients that resume from a history that is not there: each is
		// reset (and read the stream for, if it comes before the reader
		// knows where it starts).
		{name: "broadcast v1 redis resume", args: []string{"--broadcast", "--lease=1s", "--replay=2", "cat"}, proto: v1Proto, anchor: true, redis: true, query: "since=1&epoch=gone"},
	}
	// Every session with a JWT has its expiry's timer: the churn must
	// leave none behind.
	k := keys(t)
	tok := mint(t, jwt.SigningMethodHS256, k.hmac, claimsFor("churn", time.Hour), "")
	kinds = append(kinds,
		churnKind{name: "pipe with a JWT", args: []string{"--jwt-key=" + k.hmacFile, "cat"}, query: "access_token=" + tok},
		churnKind{name: "terminal with a JWT", args: []string{"--jwt-key=" + k.hmacFile, "--terminal", "--writable", "cat"}, proto: ttyProto, terminal: true, query: "access_token=" + tok},
	)
	// One redis-server for the package's churn, started only if a kind
	// that needs it runs.
	var redisOnce sync.Once
	var r *redistest.Server
	redis := func() *redistest.Server {
		redisOnce.Do(func() { r = startRedis(t) })
		return r
	}
	for _, k := range kinds {
		if k.redis {
			redis()
		}
		t.Run(strings.ReplaceAll(k.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			churn(t, k, r)
		})
	}
}

func churn(t *testing.T, k churnKind, r *redistest.Server) {
	var daemons []*watched
	var target *watched // where the clients go
	if k.redis {
		args := append([]string{"--redis=" + r.URL(), "--redis-prefix=churn"}, k.args...)
		owner := watch(t, "owner", args...)
		target = watch(t, "instance", args...)
		daemons = []*watched{owner, target}
		// The first client makes its instance the owner: the program runs
		// there, and the clients under churn are all on the other.
		anchorClient(t, k, owner)
		anchorClient(t, k, target)
	} else {
		target = watch(t, k.name, k.args...)
		daemons = []*watched{target}
		if k.anchor {
			anchorClient(t, k, target)
		}
	}

	// A first round, unchecked, so that what a daemon makes once and
	// keeps (pools, buffers, watchers) is in the baseline.
	for _, way := range departures {
		closeLater(churnRound(t, k, target, way, 2, "warm"))
	}
	for _, d := range daemons {
		d.baseline(t)
	}
	for _, way := range departures {
		start := time.Now()
		later := churnRound(t, k, target, way, churnBatch, "churn")
		served := time.Since(start)
		for _, d := range daemons {
			d.settled(t, way, churnSettle)
		}
		t.Logf("%s: served in %v, settled %v later", way, served.Round(time.Millisecond), (time.Since(start) - served).Round(time.Millisecond))
		closeLater(later)
	}
	// A new client is served, and leaves nothing either.
	c, err := k.dial(target.s.addr, k.pathOf(1000), 0)
	if err != nil {
		t.Fatalf("a new client after the churn: %v", err)
	}
	if err := churnHello(c, k, "new-client"); err != nil {
		t.Fatalf("a new client after the churn: %v", err)
	}
	c.closeFrame()
	c.untilClose(testTimeout)
	c.TCP.Close()
	for _, d := range daemons {
		h := d.settled(t, "the new client", churnSettle)
		t.Logf("%s after the churn: %v", d.name, h)
	}
}

func (k churnKind) pathOf(i int) string {
	p := "/churn"
	if k.perGroup {
		p = fmt.Sprintf("/group-%d", i)
	}
	if k.query != "" {
		p += "?" + k.query
	}
	return p
}

// anchorClient attaches a client that stays for the whole test and reads
// everything, so a shared program keeps running between batches. The
// churn must not end it: it fails the test if it was closed before the
// test's end.
func anchorClient(t *testing.T, k churnKind, d *watched) {
	t.Helper()
	done := readingClient(t, k, d)
	t.Cleanup(func() {
		select {
		case <-done:
			t.Errorf("%s: the anchor client was closed during the churn", d.name)
		default:
		}
	})
}

// readingClient attaches a client that reads everything until it gets a
// close frame or the connection ends (then the channel is closed). It is
// closed at the test's end.
func readingClient(t *testing.T, k churnKind, d *watched) <-chan struct{} {
	t.Helper()
	c, err := k.dial(d.s.addr, k.pathOf(0), 0)
	if err != nil {
		t.Fatalf("anchor: %v", err)
	}
	if err := churnHello(c, k, "anchor-"+d.name); err != nil {
		t.Fatalf("anchor: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			op, _, err := c.ReadFrame()
			if err != nil || op == rawws.OpClose {
				return
			}
		}
	}()
	t.Cleanup(func() {
		c.TCP.Close()
		<-done
	})
	return done
}

// churnHello sends token and waits for the program's answer holding it.
func churnHello(c *rawWS, k churnKind, token string) error {
	if err := c.Send(k.inputOp(), []byte(token+k.eol())); err != nil {
		return err
	}
	return c.await(token, testTimeout)
}

func (k churnKind) inputOp() byte {
	if k.terminal {
		return rawws.OpBinary
	}
	return rawws.OpText
}

// eol ends a line of input inside a message: a terminal's Enter is \r;
// a pipe session adds the \n after a message itself.
func (k churnKind) eol() string {
	if k.terminal {
		return "\r"
	}
	return ""
}

// churnRound serves n clients at once, each answered once, then makes them
// all leave in way. It returns the connections that stay open on the
// client's side (FIN sent, close unanswered) for the caller to close after
// its check.
func churnRound(t *testing.T, k churnKind, d *watched, way string, n int, tag string) []*rawWS {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		later []*rawWS
		errs  []string
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := churnClient(k, d, way, fmt.Sprintf("%s-%s-%d", tag, strings.ReplaceAll(way, " ", "_"), i), i+1)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err.Error())
			}
			if c != nil {
				later = append(later, c)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		closeLater(later)
		t.Fatalf("%s: %d of %d clients (%s) failed: %s", d.name, len(errs), n, way, strings.Join(errs, "; "))
	}
	return later
}

// closeLater closes the connections a round left open on the client side.
func closeLater(cs []*rawWS) {
	for _, c := range cs {
		c.TCP.Close()
	}
}

// churnClient is one client: it connects, is answered, and leaves in way.
func churnClient(k churnKind, d *watched, way, token string, i int) (*rawWS, error) {
	rcvbuf := 0
	if way == "stalled, reset" {
		rcvbuf = 4096
	}
	c, err := k.dial(d.s.addr, k.pathOf(i), rcvbuf)
	if err != nil {
		return nil, err
	}
	if err := churnHello(c, k, token); err != nil {
		c.TCP.Close()
		return nil, fmt.Errorf("%s: %w", token, err)
	}
	switch way {
	case "clean close":
		err := c.closeFrame()
		if err == nil {
			_, err = c.untilClose(testTimeout)
		}
		c.TCP.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: clean close: %w", token, err)
		}
		return nil, nil
	case "reset":
		c.Reset()
		return nil, nil
	case "fin":
		c.TCP.CloseWrite()
		return c, nil
	case "reset mid-frame":
		// Masked with rawws's key, " " becomes 0x1c: a terminal that took
		// the bytes of the cut frame would see Ctrl-\ and quit.
		c.SendHalf(k.inputOp(), []byte("half a fr"), 200)
		// The server is reading the frame when the reset comes (a reset
		// that arrives first makes the kernel drop what it holds).
		time.Sleep(100 * time.Millisecond)
		c.Reset()
		return nil, nil
	case "stalled, reset":
		stall(c, k)
		c.Reset()
		return nil, nil
	case "close unanswered":
		return c, c.closeFrame()
	}
	panic("unknown departure " + way)
}

// stall sends input whose answers are far more than the client's socket
// takes, reading none of them, and gives the server time to fill its side.
func stall(c *rawWS, k churnKind) {
	line := strings.Repeat("x", 999)
	lines := make([]string, 32)
	for i := range lines {
		lines[i] = line
	}
	sep := "\n"
	if k.terminal {
		sep = "\r"
	}
	msg := []byte(strings.Join(lines, sep) + k.eol())
	// The program may stop taking input once its output is stuck: the
	// writes give up after a while rather than block.
	c.TCP.SetWriteDeadline(time.Now().Add(time.Second))
	for range 16 {
		if _, err := c.TCP.Write(rawws.Frame(0x80|k.inputOp(), msg, -1)); err != nil {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
}

// The endings the server chooses for a broadcast client leave nothing
// either, even when the client never answers the close nor closes its
// side: a protocol error (1002) and a client too slow for its queue
// (1013). Clients the churn above does not make.
func TestChurnBroadcastServerCloses(t *testing.T) {
	t.Parallel()
	k := churnKind{name: "broadcast"}
	d := watch(t, "broadcast", "--broadcast", "--client-queue=65536", "cat")
	anchor, err := dialRaw(d.s.addr, k.pathOf(0), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer anchor.TCP.Close()
	if err := churnHello(anchor, k, "anchor"); err != nil {
		t.Fatal(err)
	}
	go anchor.drain()
	d.baseline(t)

	for _, tc := range []struct {
		name   string
		rcvbuf int
		act    func(c *rawWS) error
		code   int
	}{
		{"protocol error", 0, func(c *rawWS) error {
			_, err := c.TCP.Write(rawws.Frame(0x83, []byte("x"), -1)) // a reserved opcode
			return err
		}, 1002},
		{"too slow", 4096, func(c *rawWS) error {
			// Through the anchor, to every client: more than the kernel
			// buffers of a socket (4 MiB at most) and the queue hold.
			big := strings.Repeat("y", 32<<10)
			for range 200 {
				if err := anchor.Send(rawws.OpText, []byte(big)); err != nil {
					return err
				}
			}
			return nil
		}, 1013},
	} {
		var cs []*rawWS
		for i := range churnBatch {
			c, err := dialRaw(d.s.addr, k.pathOf(0), "", tc.rcvbuf)
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
			if err := churnHello(c, k, fmt.Sprintf("%s-%d", tc.name, i)); err != nil {
				t.Fatal(err)
			}
		}
		if tc.code == 1013 {
			if err := tc.act(nil); err != nil {
				t.Fatal(err)
			}
		} else {
			for _, c := range cs {
				if err := tc.act(c); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The clients neither answer nor close: the server must let go
		// of them by itself.
		d.settled(t, tc.name, churnSettle)
		if tc.code == 1002 {
			if code, err := cs[0].untilClose(testTimeout); err != nil || code != tc.code {
				t.Errorf("%s: close %d (%v), want %d", tc.name, code, err, tc.code)
			}
		} else if got := metricValue(scrapeMetrics(t, d.metrics), "wsbridge_broadcast_slow_closes_total"); got != strconv.Itoa(churnBatch) {
			t.Errorf("%s: %s clients closed as too slow, want %d", tc.name, got, churnBatch)
		}
		closeLater(cs)
	}
	servesEchoPath(t, d, k.pathOf(0), "still served")
}
