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
// read are framed once into one batch that every client's shard shares, so
// a read costs one write per client however many lines it holds.
func (g *group) pump(stdout *os.File) error {
	sr, err := frame.NewStreamReader(stdout, g.h.opts.Binary, g.h.maxMsg)
	if err != nil {
		return err
	}
	defer sr.Release()
	return eachPiece(sr, g.piece, func() {
		if g.cg == nil { // with --redis, Deliver builds and flushes batches
			g.flush()
		}
	})
}

// eachPiece reads sr until its file ends, handing each piece to fn and
// calling filled after the pieces of each read; nil at the end of file.
func eachPiece(sr *frame.StreamReader, fn func(piece []byte, end bool), filled func()) error {
	for {
		ferr := sr.Fill()
		for {
			piece, end, ok := sr.Next()
			if !ok {
				break
			}
			fn(piece, end)
		}
		filled()
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

// message sends one output message of the program: with --redis to the
// group's stream, otherwise to the clients here.
func (g *group) message(p []byte) {
	m, ok := g.decode(p)
	switch {
	case !ok:
	case g.cg != nil:
		g.cg.Output(m) // encoded at once: p's buffer may be reused
	default:
		m.Offset, m.Epoch = g.outLast+1, g.epoch // constant without --redis
		g.deliver(&m)
	}
}

// decode says what one output message does: it goes to every client or,
// with --envelope, where its envelope says; false for a bad envelope,
// which is logged and dropped. Data may share p's buffer.
func (g *group) decode(p []byte) (cluster.Message, bool) {
	if g.h.opts.Binary {
		return cluster.Message{Kind: cluster.ToAll, Data: p}, true
	}
	if !utf8.Valid(p) {
		g.scratch = frame.AppendValidUTF8(g.scratch[:0], p)
		p = g.scratch
	}
	if !g.h.opts.Envelope {
		return cluster.Message{Kind: cluster.ToAll, Data: p}, true
	}
	e, err := envelope.Parse(p)
	switch {
	case err != nil:
		g.log.Error("bad envelope from the program", "err", err, "line", envelope.CutForLog(p))
		return cluster.Message{}, false
	case e.Close != "":
		return cluster.Message{Kind: cluster.CloseOf, Client: e.Close, Code: e.Code, Reason: e.Reason}, true
	case e.To != nil:
		return cluster.Message{Kind: cluster.ToSome, To: e.To, Data: []byte(*e.Data)}, true
	}
	return cluster.Message{Kind: cluster.ToAll, Data: []byte(*e.Data)}, true
}

// deliver hands one output message to the clients here: a message for
// every client joins the batch being built; any other goes after the
// batch, so that what came before reaches the clients first.
func (g *group) deliver(m *cluster.Message) {
	g.track(m)
	switch m.Kind {
	case cluster.ToAll:
		g.emit(m.Offset, m.Epoch, m.Data)
		return
	case cluster.Owner:
		if g.v1Ever.Load() {
			g.outV1 = g.v1.owner(g.outV1, m.Offset, m.Epoch, string(m.Data))
			g.v1Offs, g.v1Ends = append(g.v1Offs, m.Offset), append(g.v1Ends, len(g.outV1))
		}
		return
	}
	g.flush()
	// Whatever this does to a client comes after the batches its shard
	// has yet to write.
	g.waitShards()
	switch m.Kind {
	case cluster.ToSome:
		b := &batch{buf: appendFrame(nil, g.opcode(), m.Data), msgs: 1}
		if g.v1Ever.Load() {
			v := g.v1.data(nil, m.Offset, m.Epoch, m.Data)
			b.v1 = &batch{buf: v, msgs: 1, offs: []uint64{m.Offset}, ends: []int{len(v)}}
		}
		n := 0
		g.mu.Lock()
		g.settleLocked()
		b.seq = g.seq
		for _, id := range m.To {
			if c := g.byID[id]; c != nil && c.enqueue(b) {
				n++
			}
		}
		g.mu.Unlock()
		g.h.obs.Messages(0, 1, int64(n))
	case cluster.CloseOf:
		g.mu.Lock()
		c := g.byID[m.Client]
		g.mu.Unlock()
		if c != nil {
			c.closeAfterQueued(websocket.StatusCode(m.Code), m.Reason)
		}
	case cluster.End:
		// As end does for a local program: the group leaves the hub, so a
		// client arriving now starts a new one rather than join this one.
		g.h.mu.Lock()
		g.h.removeLocked(g)
		g.h.mu.Unlock()
		g.mu.Lock()
		g.stopping = true
		for c := range g.clients {
			c.closeAfterQueued(websocket.StatusCode(m.Code), m.Reason)
		}
		g.mu.Unlock()
	}
}

// opcode is the frame opcode of output messages.
func (g *group) opcode() byte {
	if g.h.opts.Binary {
		return opBinary
	}
	return opText
}

// track follows the offsets (and, with --redis, the epoch) of the
// messages delivered; a new epoch means the history was lost (Redis lost
// its data), which the subprotocol's clients are told by a reset event.
func (g *group) track(m *cluster.Message) {
	if m.Epoch != g.outEpoch {
		if g.outEpoch != "" && g.v1Ever.Load() {
			g.outV1 = g.v1.reset(g.outV1, m.Epoch)
			g.v1Offs, g.v1Ends = append(g.v1Offs, m.Offset), append(g.v1Ends, len(g.outV1))
		}
		g.outEpoch, g.outFloor = m.Epoch, m.Offset-1
	}
	g.outLast = m.Offset
}

// settleLocked records, with g.mu held, where the output delivered so far
// ends, for the clients that resume: what attach compares their offset
// with.
func (g *group) settleLocked() {
	switch {
	case g.epoch != g.outEpoch:
		g.epoch, g.offset = g.outEpoch, g.outLast
		g.ring.clear(g.outFloor)
	case g.outLast > g.offset:
		g.offset = g.outLast
	}
}

// emit adds a message for every client to the batch being built, in both
// forms once a client of the subprotocol joined.
func (g *group) emit(off uint64, epoch string, payload []byte) {
	g.out = appendFrame(g.out, g.opcode(), payload)
	g.outEnds = append(g.outEnds, len(g.out))
	g.outOffs = append(g.outOffs, off)
	if g.v1Ever.Load() {
		g.outV1 = g.v1.data(g.outV1, off, epoch, payload)
		g.v1Offs, g.v1Ends = append(g.v1Offs, off), append(g.v1Ends, len(g.outV1))
	}
}

// flush hands the batch to every client through the group's shards, and
// keeps its messages for --replay and resuming. Both happen under the
// lock attach takes, so a client joining gets each message once: from the
// ring or from its shard. Each client's shard turns the batch into the
// client's form (Client.formLocked).
func (g *group) flush() {
	if len(g.outEnds) == 0 && len(g.v1Offs) == 0 {
		return
	}
	b := &batch{buf: g.out, msgs: len(g.outEnds)}
	if len(g.v1Offs) > 0 {
		b.v1 = &batch{buf: g.outV1, msgs: len(g.v1Offs), offs: g.v1Offs, ends: g.v1Ends}
	}
	g.mu.Lock()
	g.settleLocked()
	if b.v1 == nil && g.v1Clients > 0 {
		// The first client of the subprotocol came while this batch was
		// built without its form.
		b.v1 = g.v1FromPlainLocked(b)
	}
	start := 0
	for i, end := range g.outEnds {
		g.ring.add(g.outOffs[i], b.buf[start:end])
		start = end
	}
	b.seq = g.seq
	g.seq++
	runInline := g.fanOut(b)
	g.mu.Unlock()
	g.out = make([]byte, 0, min(cap(g.out), maxKeptMsg))
	g.outEnds, g.outOffs = g.outEnds[:0], g.outOffs[:0]
	if b.v1 != nil { // shared with the clients now
		g.outV1, g.v1Offs, g.v1Ends = nil, nil, nil
	}
	g.h.obs.Messages(0, int64(b.msgs), 0) // the shards count the deliveries
	g.afterFanOut(runInline)
}

// v1FromPlainLocked builds the subprotocol's form of a batch built
// without it.
func (g *group) v1FromPlainLocked(b *batch) *batch {
	v := v1Builder{binary: g.h.opts.Binary}
	out := &batch{msgs: b.msgs}
	start := 0
	for i, end := range g.outEnds {
		out.buf = v.data(out.buf, g.outOffs[i], g.epoch, framePayload(b.buf[start:end]))
		out.offs, out.ends = append(out.offs, g.outOffs[i]), append(out.ends, len(out.buf))
		start = end
	}
	return out
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
	eachPiece(sr, func(piece []byte, end bool) {
		g.log.Info("stderr", "line", string(frame.AppendValidUTF8(nil, piece)), "continued", !end)
	}, func() {})
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
	g.writeMessage(c.info.ID, msg)
}

// writeMessage writes a client's message to stdin as the program reads
// it, with stdinMu held; msg may be appended to.
func (g *group) writeMessage(id string, msg []byte) {
	switch {
	case g.h.opts.Envelope:
		g.inBuf = envelope.AppendMessage(g.inBuf[:0], id, msg)
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
