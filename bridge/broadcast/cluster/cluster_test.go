package cluster_test

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster/redistest"
)

// fakeProgram stands for the broadcast kind: it records what it is told and
// echoes each input message back as output while it runs.
type fakeProgram struct {
	g       atomic.Pointer[cluster.Group]
	starts  atomic.Int32
	stops   atomic.Int32
	running atomic.Bool
	// onStop, if set, runs when the program is told to stop, before the
	// lease is given up.
	onStop atomic.Pointer[func()]

	mu        sync.Mutex
	delivered []string
	inputs    []cluster.Input
	stopNow   []bool        // Stop's argument, each call
	gone      chan struct{} // if set, what Stop answers
}

func (p *fakeProgram) Deliver(ms []cluster.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range ms {
		p.delivered = append(p.delivered, string(m.Kind)+":"+string(m.Data))
	}
}

func (p *fakeProgram) Start() error {
	p.starts.Add(1)
	p.running.Store(true)
	return nil
}

func (p *fakeProgram) Stop(now bool) <-chan struct{} {
	p.stops.Add(1)
	p.mu.Lock()
	p.stopNow = append(p.stopNow, now)
	gone := p.gone
	p.mu.Unlock()
	if gone != nil {
		return gone // a program slow to end: the test closes it
	}
	p.running.Store(false)
	if f := p.onStop.Load(); f != nil {
		(*f)()
	}
	done := make(chan struct{})
	close(done)
	return done
}

func (p *fakeProgram) StopTime() time.Duration { return 0 }

func (p *fakeProgram) Input(in cluster.Input) {
	p.mu.Lock()
	p.inputs = append(p.inputs, in)
	p.mu.Unlock()
	if in.Kind == cluster.ClientMessage && p.running.Load() {
		p.g.Load().Output(cluster.Message{Kind: cluster.ToAll, Data: append([]byte("echo "), in.Data...)})
	}
}

func (p *fakeProgram) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.delivered...)
}

func (p *fakeProgram) inputCount(kind cluster.InputKind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, in := range p.inputs {
		if in.Kind == kind {
			n++
		}
	}
	return n
}

type counter struct {
	dropped, reconnects   atomic.Int64
	trimmedOut, trimmedIn atomic.Int64
	lostFailover          atomic.Int64
	rewritten             atomic.Int64
}

func (c *counter) LeaseHeld(string, bool)  {}
func (c *counter) StreamLag(time.Duration) {}
func (c *counter) Reconnected()            { c.reconnects.Add(1) }
func (c *counter) Buffered(int)            {}
func (c *counter) Dropped(where string, n int64) {
	c.dropped.Add(n)
	if where == "failover" {
		c.lostFailover.Add(n)
	}
}
func (c *counter) Rewritten(n int64) { c.rewritten.Add(n) }
func (c *counter) Trimmed(stream string, n, _ int64) {
	if stream == "out" {
		c.trimmedOut.Add(n)
	} else {
		c.trimmedIn.Add(n)
	}
}

type member struct {
	e   *cluster.Engine
	g   *cluster.Group
	p   *fakeProgram
	obs *counter
}

func join(t *testing.T, url string, opts cluster.Options) *member {
	t.Helper()
	opts.URL = url
	if opts.Lease == 0 {
		opts.Lease = 900 * time.Millisecond
	}
	m := &member{p: &fakeProgram{}, obs: &counter{}}
	opts.Observer = m.obs
	e, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m.e = e
	g, err := e.Open("/room", m.p)
	if err != nil {
		t.Fatal(err)
	}
	m.g = g
	m.p.g.Store(g)
	g.SetClients(1)
	t.Cleanup(func() { e.Close() })
	return m
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func owner(t *testing.T, ms ...*member) *member {
	t.Helper()
	var found *member
	waitFor(t, "an owner", 5*time.Second, func() bool {
		for _, m := range ms {
			if m.g.Owner() {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// TestClusterOneProgramInputEverywhere: three instances, one program; a
// message sent on each reaches it, its answers reach all in one order.
func TestClusterOneProgramInputEverywhere(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	ms := []*member{join(t, r.URL(), cluster.Options{}), join(t, r.URL(), cluster.Options{}), join(t, r.URL(), cluster.Options{})}
	owner(t, ms...)
	time.Sleep(300 * time.Millisecond)
	starts := 0
	for _, m := range ms {
		starts += int(m.p.starts.Load())
	}
	if starts != 1 {
		t.Fatalf("%d programs started, want 1", starts)
	}
	for i := range 50 {
		ms[i%3].g.Send(cluster.Input{Kind: cluster.ClientMessage, Client: "c", Data: []byte(strconv.Itoa(i))})
	}
	for _, m := range ms {
		waitFor(t, "50 echoes", 5*time.Second, func() bool { return len(m.p.got()) >= 50 })
	}
	want := ms[0].p.got()
	for _, m := range ms[1:] {
		if fmt.Sprint(m.p.got()) != fmt.Sprint(want) {
			t.Fatalf("instances disagree:\n%v\n%v", want, m.p.got())
		}
	}
}

// TestClusterReplayOnJoiningInstance: an instance opening the group later
// gets the last --replay messages first.
func TestClusterReplayOnJoiningInstance(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := join(t, r.URL(), cluster.Options{Replay: 3})
	owner(t, a)
	for i := range 10 {
		a.g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte(strconv.Itoa(i))})
	}
	a.g.Output(cluster.Message{Kind: cluster.ToSome, To: []string{"x"}, Data: []byte("private")})
	waitFor(t, "10 messages on a", 5*time.Second, func() bool { return len(a.p.got()) == 11 })
	b := join(t, r.URL(), cluster.Options{Replay: 3})
	waitFor(t, "the replay on b", 5*time.Second, func() bool { return len(b.p.got()) == 3 })
	if got := fmt.Sprint(b.p.got()); got != "[a:7 a:8 a:9]" {
		t.Fatalf("replay %s", got)
	}
	a.g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte("live")})
	waitFor(t, "live on b", 5*time.Second, func() bool { return len(b.p.got()) == 4 })
}

// TestClusterRedisFrozen: Redis stopped for 3 s; the owner keeps its
// program, and every message arrives once, in order, after.
func TestClusterRedisFrozen(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	opts := cluster.Options{Lease: 5 * time.Second}
	a, b := join(t, r.URL(), opts), join(t, r.URL(), opts)
	o := owner(t, a, b)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			case <-time.After(5 * time.Millisecond):
			}
			o.g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte(strconv.Itoa(n))})
			n++
		}
	}()
	time.Sleep(300 * time.Millisecond)
	r.Freeze()
	time.Sleep(3 * time.Second)
	r.Thaw()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	n := <-done
	for _, m := range []*member{a, b} {
		waitFor(t, "every message", 10*time.Second, func() bool { return len(m.p.got()) >= n })
		got := m.p.got()
		for i, s := range got {
			if s != "a:"+strconv.Itoa(i) {
				t.Fatalf("message %d is %q (of %d)", i, s, len(got))
			}
		}
		if len(got) != n {
			t.Fatalf("%d messages, want %d", len(got), n)
		}
	}
	if o.p.starts.Load() != 1 || o.p.stops.Load() != 0 || !o.g.Owner() {
		t.Fatalf("the owner lost its program: starts %d stops %d", o.p.starts.Load(), o.p.stops.Load())
	}
}

// TestClusterRedisRestartedEmpty: Redis killed and started again empty;
// the group serves again, and what was lost is counted.
func TestClusterRedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	opts := cluster.Options{Lease: 2 * time.Second, Buffer: 4096, Envelope: true}
	a, b := join(t, r.URL(), opts), join(t, r.URL(), opts)
	o := owner(t, a, b)
	o.g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte("before")})
	waitFor(t, "before", 5*time.Second, func() bool { return len(a.p.got()) == 1 && len(b.p.got()) == 1 })
	r.Kill()
	// Output while Redis is away: 4 KiB of buffer keeps the newest.
	for i := range 200 {
		o.g.Output(cluster.Message{Kind: cluster.ToAll, Data: fmt.Appendf(nil, "%03d-%s", i, make([]byte, 100))})
	}
	r.Start()
	o.g.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte("after")})
	for _, m := range []*member{a, b} {
		waitFor(t, "after", 10*time.Second, func() bool {
			got := m.p.got()
			return len(got) > 0 && got[len(got)-1] == "a:after"
		})
	}
	if o.obs.dropped.Load() == 0 {
		t.Fatal("nothing counted as dropped")
	}
	waitFor(t, "a gap event", 10*time.Second, func() bool { return o.p.inputCount(cluster.Gap) > 0 })
	if total := a.p.starts.Load() + b.p.starts.Load(); total != 1 {
		t.Fatalf("%d program starts, want 1 (the owner keeps its program)", total)
	}
}

// TestClusterTakeover: the owner goes away without a word (its Redis
// connection is cut for good); another instance takes over within the
// lease and a renewal, and input waiting in the stream reaches it.
func TestClusterTakeover(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	opts := cluster.Options{Lease: time.Second}
	a, b := join(t, r.URL(), opts), join(t, r.URL(), opts)
	o := owner(t, a, b)
	other := a
	if o == a {
		other = b
	}
	o.p.running.Store(false) // the program stops answering
	cut := time.Now()
	o.e.Abandon()
	other.g.Send(cluster.Input{Kind: cluster.ClientMessage, Client: "c", Data: []byte("in the gap")})
	waitFor(t, "a new owner", 5*time.Second, other.g.Owner)
	if d := time.Since(cut); d > opts.Lease+opts.Lease/3+300*time.Millisecond {
		t.Fatalf("takeover after %v", d)
	}
	waitFor(t, "the echo", 5*time.Second, func() bool {
		got := other.p.got()
		return len(got) > 0 && got[len(got)-1] == "a:echo in the gap"
	})
}

// TestClusterAnswerToFirstInput: an instance that opens the group and at
// once sends input (a client's join, in the broadcast kind) gets the
// program's answer to it: input is written only once the instance's
// reader of the output stream knows where it starts.
func TestClusterAnswerToFirstInput(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := join(t, r.URL(), cluster.Options{})
	owner(t, a)
	for i := range 20 {
		e, err := cluster.New(cluster.Options{URL: r.URL(), Lease: 900 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		p := &fakeProgram{}
		g, err := e.Open("/room", p)
		if err != nil {
			t.Fatal(err)
		}
		p.g.Store(g)
		g.SetClients(1)
		msg := "first " + strconv.Itoa(i)
		g.Send(cluster.Input{Kind: cluster.ClientMessage, Client: "c", Data: []byte(msg)})
		waitFor(t, "the answer on the new instance", 5*time.Second, func() bool {
			got := p.got()
			return len(got) > 0 && got[0] == "a:echo "+msg
		})
		e.Close()
	}
}

// TestClusterInputAfterReopen: a daemon that leaves a group and opens it
// again while the owner runs on numbers its input on from where it was, so
// the owner does not drop it as sent twice.
func TestClusterInputAfterReopen(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := join(t, r.URL(), cluster.Options{})
	owner(t, a)
	b := join(t, r.URL(), cluster.Options{})
	for i := range 3 {
		b.g.Send(cluster.Input{Kind: cluster.ClientMessage, Client: "c", Data: []byte("before " + strconv.Itoa(i))})
	}
	waitFor(t, "3 inputs on the owner", 5*time.Second, func() bool { return a.p.inputCount(cluster.ClientMessage) == 3 })
	b.g.SetClients(0)
	b.g.Close()
	p := &fakeProgram{}
	g, err := b.e.Open("/room", p)
	if err != nil {
		t.Fatal(err)
	}
	p.g.Store(g)
	g.SetClients(1)
	g.Send(cluster.Input{Kind: cluster.ClientMessage, Client: "c", Data: []byte("after")})
	waitFor(t, "the input sent after reopening", 5*time.Second, func() bool { return a.p.inputCount(cluster.ClientMessage) == 4 })
}

// TestClusterStopKeepsLease: an idle owner's program is stopped with the
// kill sequence (Stop(false)), and the owner keeps renewing its lease, for
// longer than a lease, until the program is gone; then it gives it up.
// Redis frozen past the fence during such a stop makes it kill at once.
func TestClusterStopKeepsLease(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	a := join(t, r.URL(), cluster.Options{})
	owner(t, a)
	gone := make(chan struct{})
	a.p.mu.Lock()
	a.p.gone = gone
	a.p.mu.Unlock()
	a.g.SetClients(0)
	waitFor(t, "the stop", 5*time.Second, func() bool { return a.p.stops.Load() > 0 })
	time.Sleep(2 * 900 * time.Millisecond) // two leases
	if !a.g.Owner() {
		t.Fatal("the owner gave its lease up before its program was gone")
	}
	close(gone)
	waitFor(t, "the lease given up", 5*time.Second, func() bool { return !a.g.Owner() })
	a.p.mu.Lock()
	stopNow := fmt.Sprint(a.p.stopNow)
	a.p.mu.Unlock()
	if stopNow != "[false]" {
		t.Fatalf("Stop called with %s, want [false]: the kill sequence", stopNow)
	}

	b := join(t, r.URL(), cluster.Options{})
	owner(t, b)
	gone = make(chan struct{})
	defer close(gone)
	b.p.mu.Lock()
	b.p.gone = gone
	b.p.mu.Unlock()
	b.g.SetClients(0)
	waitFor(t, "the stop", 5*time.Second, func() bool { return b.p.stops.Load() > 0 })
	r.Freeze()
	defer r.Thaw()
	waitFor(t, "the kill", 5*time.Second, func() bool {
		b.p.mu.Lock()
		defer b.p.mu.Unlock()
		return fmt.Sprint(b.p.stopNow) == "[false true]"
	})
}

// A client that arrives while the owner stops its idle program, after the
// decision and before the lease is given up, makes the instance bid
// again: its client must not be left in a group that runs no program.
func TestClientArrivingAsIdleProgramStops(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	m := join(t, r.URL(), cluster.Options{})
	owner(t, m)
	arrive := func() { m.g.SetClients(1) }
	m.p.onStop.Store(&arrive)
	m.g.SetClients(0)
	waitFor(t, "the program to start again for the new client", 5*time.Second, func() bool { return m.p.starts.Load() >= 2 })
}
