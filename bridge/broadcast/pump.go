package broadcast

import (
	"errors"
	"io"
	"os"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/broadcast/envelope"
	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// maxKeptMsg is the largest assembly buffer kept between messages; a
// longer message's buffer goes back to the garbage collector.
const maxKeptMsg = 64 << 10

// pump reads the program's output and fans it out: the messages of each
// read are framed once into one batch that every client's queue shares, so
// a read costs one append per client however many lines it holds.
func (g *group) pump(stdout *os.File) error {
	sr, err := frame.NewStreamReader(stdout, g.h.opts.Binary, g.h.maxMsg)
	if err != nil {
		return err
	}
	defer sr.Release()
	for {
		ferr := sr.Fill()
		for {
			piece, end, ok := sr.Next()
			if !ok {
				break
			}
			g.piece(piece, end)
		}
		if g.cg == nil { // with --redis, Deliver builds and flushes batches
			g.flush()
		}
		if ferr != nil {
			if errors.Is(ferr, io.EOF) {
				return nil
			}
			return ferr
		}
	}
}

// piece assembles a message that arrives in pieces (a line longer than the
// read buffer) and handles each complete one.
func (g *group) piece(piece []byte, end bool) {
	if !end || len(g.msg) > 0 {
		g.msg = append(g.msg, piece...)
		if !end {
			return
		}
		piece = g.msg
	}
	g.message(piece)
	g.msg = g.msg[:0]
	if cap(g.msg) > maxKeptMsg {
		g.msg = nil
	}
}

// message sends one output message: to every client, or with --envelope as
// the envelope says.
func (g *group) message(p []byte) {
	if g.cg != nil {
		g.clusterOutput(p)
		return
	}
	if g.h.opts.Binary {
		g.emit(opBinary, p)
		return
	}
	if !utf8.Valid(p) {
		g.scratch = frame.AppendValidUTF8(g.scratch[:0], p)
		p = g.scratch
	}
	if !g.h.opts.Envelope {
		g.emit(opText, p)
		return
	}
	e, err := envelope.Parse(p)
	if err != nil {
		g.log.Error("bad envelope from the program", "err", err, "line", envelope.CutForLog(p))
		return
	}
	switch {
	case e.Close != "":
		g.flush() // what came before reaches the client first
		g.mu.Lock()
		c := g.byID[e.Close]
		g.mu.Unlock()
		if c != nil {
			c.closeAfterQueued(websocket.StatusCode(e.Code), e.Reason)
		}
	case e.To != nil:
		g.flush()
		b := &batch{buf: appendFrame(nil, opText, []byte(*e.Data)), msgs: 1}
		n := 0
		g.mu.Lock()
		for _, id := range e.To {
			if c := g.byID[id]; c != nil && c.enqueue(b) {
				n++
			}
		}
		g.mu.Unlock()
		g.h.obs.Messages(0, 1, int64(n))
	default:
		g.emit(opText, []byte(*e.Data))
	}
}

// emit adds a message for every client to the batch being built.
func (g *group) emit(op byte, payload []byte) {
	g.out = appendFrame(g.out, op, payload)
	g.outEnds = append(g.outEnds, len(g.out))
}

// flush queues the batch for every client, and keeps its messages for
// --replay. Both happen under the lock attach takes, so a client joining
// gets each message once: from the replay or from its queue.
func (g *group) flush() {
	if len(g.outEnds) == 0 {
		return
	}
	b := &batch{buf: g.out, msgs: len(g.outEnds)}
	n := 0
	g.mu.Lock()
	if g.ring != nil {
		start := 0
		for _, end := range g.outEnds {
			g.ring.add(b.buf[start:end])
			start = end
		}
	}
	for c := range g.clients {
		if c.enqueue(b) {
			n++
		}
	}
	g.mu.Unlock()
	g.out = make([]byte, 0, min(cap(g.out), maxKeptMsg))
	g.outEnds = g.outEnds[:0]
	g.h.obs.Messages(0, int64(b.msgs), int64(b.msgs*n))
}

// logStderr logs each line the program writes to stderr.
func (g *group) logStderr(f *os.File, done chan<- struct{}) {
	defer close(done)
	if f == nil {
		return
	}
	sr, err := frame.NewStreamReader(f, false, 0)
	if err != nil {
		return
	}
	defer sr.Release()
	for {
		ferr := sr.Fill()
		for {
			piece, end, ok := sr.Next()
			if !ok {
				break
			}
			g.log.Info("stderr", "line", string(frame.AppendValidUTF8(nil, piece)), "continued", !end)
		}
		if ferr != nil {
			return
		}
	}
}

// input writes one client message to stdin, whole: the stdin lock keeps
// messages of different clients from interleaving, whatever their size.
func (g *group) input(c *Client, msg []byte) {
	if g.cg != nil {
		g.clusterInput(cluster.Input{Kind: cluster.ClientMessage, Client: c.info.ID, Data: append([]byte(nil), msg...)})
		return
	}
	g.stdinMu.Lock()
	defer g.stdinMu.Unlock()
	if g.stdin == nil {
		g.log.Debug("message dropped: the program is restarting", "client", c.info.ID)
		return
	}
	switch {
	case g.h.opts.Envelope:
		g.inBuf = envelope.AppendMessage(g.inBuf[:0], c.info.ID, msg)
		msg = g.inBuf
	case !g.h.opts.Binary:
		msg = append(msg, '\n')
	}
	g.writeStdin(msg)
	if cap(g.inBuf) > maxKeptMsg {
		g.inBuf = nil
	}
	g.h.obs.Messages(1, 0, 0)
}

// writeStdin writes p with stdinMu held. A program that stopped reading
// makes the write fail once it ends (serve sets a deadline).
func (g *group) writeStdin(p []byte) {
	if _, err := g.stdin.Write(p); err != nil {
		g.log.Debug("write stdin", "err", err)
	}
}

// joinEvent tells the program that c joined (--envelope), unless it was
// told already by a restart's rejoin.
func (g *group) joinEvent(c *Client) {
	if !g.h.opts.Envelope {
		return
	}
	if g.cg != nil {
		g.clusterInput(cluster.Input{Kind: cluster.Join, Client: c.info.ID, Data: envelope.AppendJoin(nil, c.info)})
		return
	}
	g.stdinMu.Lock()
	defer g.stdinMu.Unlock()
	if g.stdin == nil || c.joined {
		return
	}
	c.joined = true
	g.inBuf = envelope.AppendJoin(g.inBuf[:0], c.info)
	g.writeStdin(g.inBuf)
}

// leaveEvent tells the program that c left, if it knew of c.
func (g *group) leaveEvent(c *Client, code int) {
	if !g.h.opts.Envelope {
		return
	}
	if g.cg != nil {
		g.clusterInput(cluster.Input{Kind: cluster.Leave, Client: c.info.ID, Code: code})
		return
	}
	g.stdinMu.Lock()
	defer g.stdinMu.Unlock()
	if g.stdin == nil || !c.joined {
		return
	}
	c.joined = false
	g.inBuf = envelope.AppendLeave(g.inBuf[:0], c.info.ID, code)
	g.writeStdin(g.inBuf)
}

// rejoin gives a restarted program its new stdin and, first of all, a join
// event for every client still connected.
func (g *group) rejoin(stdin *os.File) {
	g.stdinMu.Lock()
	defer g.stdinMu.Unlock()
	g.stdin = stdin
	if g.cg != nil && g.h.opts.Envelope {
		g.cg.Rejoin() // every client of the cluster, not only ours
		return
	}
	if !g.h.opts.Envelope {
		return
	}
	g.mu.Lock()
	clients := make([]*Client, 0, len(g.clients))
	for c := range g.clients {
		clients = append(clients, c)
	}
	g.mu.Unlock()
	g.inBuf = g.inBuf[:0]
	for _, c := range clients {
		c.joined = true
		g.inBuf = envelope.AppendJoin(g.inBuf, c.info)
	}
	if len(g.inBuf) > 0 {
		g.writeStdin(g.inBuf)
	}
}
