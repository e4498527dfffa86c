//go:build linux

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbridge/wsbridge/bridge/gatetest/rawws"
)

// kind is one session kind under soak: its daemons (two with Redis; a
// client picks one) and how its clients speak.
type kind struct {
	name     string
	daemons  []*daemon
	proto    string // subprotocol offered
	terminal bool   // binary input, Enter is \r, and the terminal echoes each line before cat does
	counter  bool   // the program numbers lines of its own: "n K", one every 50 ms
	solo     bool   // half the clients get a group of their own
	shared   bool   // input goes to one terminal: floods would cut others' lines
	flood    int    // 32 KiB messages a stalling client sends

	clients, messages atomic.Int64
	left              [len(departures)]atomic.Int64
}

// inputOp is the opcode of the client's messages: a terminal takes
// keys in binary frames.
func (k *kind) inputOp() byte {
	if k.terminal {
		return rawws.OpBinary
	}
	return rawws.OpText
}

// departures are the ways a client leaves.
var departures = [...]string{"clean close", "reset", "fin", "reset mid-frame", "stalled, reset", "close unanswered"}

// Problems a client can see while its group is healthy.
const (
	outOfOrder = "out of order"
	twice      = "twice"
	missing    = "missing"
	cut        = "a line cut or joined"
	dropped    = "closed by the server unasked"
	refused    = "could not connect"
)

var problemKinds = []string{outOfOrder, twice, missing, cut, dropped, refused}

// tally counts the clients that saw each problem, with a few examples.
type tally struct {
	restarted atomic.Int64 // clients that saw their program start again

	mu       sync.Mutex
	clients  map[string]int
	examples []string
}

func (t *tally) add(problem, example string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.clients == nil {
		t.clients = map[string]int{}
	}
	t.clients[problem]++
	if len(t.examples) < 12 {
		t.examples = append(t.examples, problem+": "+example)
	}
}

var (
	counterLine = regexp.MustCompile(`^n (\d+)$`)
	echoLine    = regexp.MustCompile(`^c(\d+)-(\d+)$`)
	// terminalControls are the escape sequences a terminal's output holds
	// besides text: a joiner's or a resumed client's screen replay draws
	// with them (cursor moves, colours, modes), so the line after it may
	// start with a few.
	terminalControls = regexp.MustCompile("\x1b\\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHM]")
)

// client is one connection under soak. Its reader goroutine checks every
// line it gets: the program's numbered lines must come one after the
// other, and the client's own messages back once each (twice on a
// terminal, which echoes), in order.
type client struct {
	k      *kind
	c      *rawws.Conn
	id     int
	copies int // how many times each of its messages comes back
	tally  *tally

	echoed  chan int // the reader's news: this message of ours is back (all its copies)
	stall   chan struct{}
	leaving atomic.Bool
	closing atomic.Bool   // the client sent its close frame
	done    chan struct{} // the reader ended
	closed  bool          // the server's close frame came (set before done)

	// The reader's own.
	partial  string
	lastOwn  int
	copiesOf int
	lastN    int
	seenN    bool
	problems map[string]bool
}

var nextID atomic.Int64

// life is one client's life: connect, talk for a while, leave in a way
// chosen at random.
func life(k *kind, rng *rand.Rand, t *tally, lifetime time.Duration) {
	id := int(nextID.Add(1))
	d := k.daemons[rng.IntN(len(k.daemons))]
	path := "/soak"
	if k.solo && rng.IntN(2) == 0 {
		path = fmt.Sprintf("/solo-%d", id)
	}
	way := rng.IntN(len(departures))
	rcvbuf := 0
	if departures[way] == "stalled, reset" {
		rcvbuf = 4096
	}
	c, err := rawws.Dial(d.addr, rawws.Options{Path: path, Protocol: k.proto, RcvBuf: rcvbuf})
	if err != nil {
		t.add(refused, fmt.Sprintf("%s: %v", k.name, err))
		time.Sleep(lifetime) // no busy loop on a daemon that refuses
		return
	}
	k.clients.Add(1)
	cl := &client{k: k, c: c, id: id, copies: 1, tally: t, echoed: make(chan int, 16), stall: make(chan struct{}), done: make(chan struct{}), problems: map[string]bool{}}
	if k.terminal {
		cl.copies = 2
	}
	go cl.reader()
	end := time.Now().Add(lifetime)
	for seq := 1; time.Now().Before(end); seq++ {
		if !cl.say(seq) {
			break
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
	}
	cl.leave(way, rng)
	k.left[way].Add(1)
}

// say sends message seq and waits for it to come back.
func (cl *client) say(seq int) bool {
	msg := fmt.Sprintf("c%d-%d", cl.id, seq)
	if cl.k.terminal {
		msg += "\r"
	}
	if err := cl.c.Send(cl.k.inputOp(), []byte(msg)); err != nil {
		cl.problem(dropped, fmt.Sprintf("send: %v", err))
		return false
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case got := <-cl.echoed:
			if got >= seq {
				cl.k.messages.Add(1)
				return true
			}
		case <-cl.done:
			return false // the reader said why
		case <-timeout.C:
			cl.problem(missing, fmt.Sprintf("c%d-%d never came back", cl.id, seq))
			return false
		}
	}
}

// problem records what went wrong for this client, once per kind.
func (cl *client) problem(p, example string) {
	if cl.leaving.Load() {
		return
	}
	if !cl.problems[p] {
		cl.problems[p] = true
		cl.tally.add(p, cl.k.name+": "+example)
	}
}

// reader reads and checks until the connection ends, or stops reading
// when the client stalls.
func (cl *client) reader() {
	defer close(cl.done)
	for {
		op, p, err := read(cl.c)
		select {
		case <-cl.stall:
			return // reads no more
		default:
		}
		if err == errClosed {
			cl.closed = true
			if cl.closing.Load() {
				return // the answer to the client's own close
			}
		}
		if err != nil {
			cl.problem(dropped, fmt.Sprintf("client %d: %v", cl.id, err))
			return
		}
		if cl.k.terminal && op == rawws.OpText {
			continue // a control message of the terminal's protocol
		}
		cl.lines(string(p))
	}
}

// errClosed is what read returns for the server's close frame.
var errClosed = errors.New("closed by the server")

// read returns the next data frame's opcode and payload; pings (answered
// by ReadFrame) and pongs are skipped, a close frame is errClosed.
func read(c *rawws.Conn) (byte, []byte, error) {
	for {
		op, p, err := c.ReadFrame()
		switch {
		case err != nil:
			return 0, nil, err
		case op == rawws.OpClose:
			return op, p, errClosed
		case op != rawws.OpPing && op != rawws.OpPong:
			return op, p, nil
		}
	}
}

// stopReading makes the reader give up at once, even in the middle of a
// read, and read nothing more.
func (cl *client) stopReading() {
	close(cl.stall)
	cl.c.TCP.SetReadDeadline(time.Now())
	<-cl.done
}

// lines checks the complete lines in what arrived.
func (cl *client) lines(s string) {
	if !cl.k.terminal {
		cl.line(strings.TrimRight(s, "\r\n")) // a message is a line
		return
	}
	cl.partial += s
	for {
		i := strings.IndexByte(cl.partial, '\n')
		if i < 0 {
			if len(cl.partial) > 64<<10 {
				cl.partial = ""
			}
			return
		}
		cl.line(terminalControls.ReplaceAllString(strings.TrimSuffix(cl.partial[:i], "\r"), ""))
		cl.partial = cl.partial[i+1:]
	}
}

func (cl *client) line(l string) {
	if m := counterLine.FindStringSubmatch(l); m != nil && cl.k.counter {
		n, _ := strconv.Atoi(m[1])
		switch {
		case !cl.seenN:
		case n == 1 && cl.lastN > 1:
			// A new program counts from 1: with --redis a client that
			// joins as the idle program is being stopped gets that
			// program's last lines, then the next one's.
			cl.tally.restarted.Add(1)
		case n == cl.lastN:
			cl.problem(twice, fmt.Sprintf("client %d: line n %d twice", cl.id, n))
		case n < cl.lastN:
			cl.problem(outOfOrder, fmt.Sprintf("client %d: line n %d after n %d", cl.id, n, cl.lastN))
		case n > cl.lastN+1:
			cl.problem(missing, fmt.Sprintf("client %d: lines n %d..%d missing", cl.id, cl.lastN+1, n-1))
		}
		cl.lastN, cl.seenN = n, true
		return
	}
	if cl.k.counter && strings.HasPrefix(l, "x") && l != floodLine {
		// A group's messages are lines: a flood line that came in pieces,
		// or with another line inside it, was framed wrong.
		cl.problem(cut, fmt.Sprintf("client %d: a flood line of %d bytes", cl.id, len(l)))
		return
	}
	m := echoLine.FindStringSubmatch(l)
	if m == nil || m[1] != strconv.Itoa(cl.id) {
		return // another client's, or a terminal's prompt and control messages
	}
	seq, _ := strconv.Atoi(m[2])
	switch {
	case seq == cl.lastOwn:
		cl.copiesOf++
		if cl.copiesOf > cl.copies {
			cl.problem(twice, fmt.Sprintf("c%d-%d came back %d times", cl.id, seq, cl.copiesOf))
		}
	case seq < cl.lastOwn:
		cl.problem(outOfOrder, fmt.Sprintf("c%d-%d after c%d-%d", cl.id, seq, cl.id, cl.lastOwn))
		return
	default:
		if seq > cl.lastOwn+1 {
			cl.problem(missing, fmt.Sprintf("c%d-%d..%d never came back", cl.id, cl.lastOwn+1, seq-1))
		}
		cl.lastOwn, cl.copiesOf = seq, 1
	}
	if cl.copiesOf == cl.copies {
		select {
		case cl.echoed <- seq:
		default:
		}
	}
}

// leave ends the client in departures[way].
func (cl *client) leave(way int, rng *rand.Rand) {
	c := cl.c
	defer func() {
		c.TCP.Close()
		<-cl.done
	}()
	if departures[way] != "clean close" {
		cl.leaving.Store(true)
	}
	switch departures[way] {
	case "clean close":
		cl.closing.Store(true)
		if c.SendClose(1000, "") != nil {
			cl.leaving.Store(true)
			return
		}
		select {
		case <-cl.done:
			if !cl.closed {
				cl.problem(dropped, fmt.Sprintf("client %d: no close frame in answer to its own", cl.id))
			}
		case <-time.After(10 * time.Second):
			cl.problem(dropped, fmt.Sprintf("client %d: no answer to its close frame in 10 s", cl.id))
		}
		cl.leaving.Store(true)
	case "reset":
		c.Reset()
	case "fin":
		c.TCP.CloseWrite()
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
	case "reset mid-frame":
		c.SendHalf(cl.k.inputOp(), []byte("cut"), 100)
		time.Sleep(50 * time.Millisecond)
		c.Reset()
	case "stalled, reset":
		cl.stopReading()
		if !cl.k.shared {
			cl.floodInput()
		}
		time.Sleep(time.Second + time.Duration(rng.IntN(1000))*time.Millisecond)
		c.Reset()
	case "close unanswered":
		cl.stopReading()
		c.SendClose(1000, "")
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
	}
}

// floodLine is each line of a flood.
var floodLine = strings.Repeat("x", 999)

// floodInput sends lines whose answers are far more than the client's
// socket holds.
func (cl *client) floodInput() {
	sep, op := "\n", cl.k.inputOp()
	if cl.k.terminal {
		sep = "\r"
	}
	msg := []byte(strings.Repeat(floodLine+sep, 32))
	cl.c.TCP.SetWriteDeadline(time.Now().Add(time.Second))
	for range cl.k.flood {
		if _, err := cl.c.TCP.Write(rawws.Frame(0x80|op, msg, -1)); err != nil {
			return
		}
	}
}
