package broadcast

import (
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/broadcast/envelope"
	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// With --redis a group spans every daemon of the cluster: each has its own
// clients, one (the lease holder) runs the program. Output goes from the
// program to the group's stream and from there, on every daemon, to the
// local clients (Deliver); client messages go to the input stream and from
// there to the program (Input). This file is that glue; the local path of
// a group without --redis does not pass through it.

// joinCluster is Hub.Join with --redis: a group here needs no program to
// start, and reports started when it is new (it keeps the client's slot).
func (h *Hub) joinCluster(key string, c *Client, prog Program) (bool, error) {
	if g := h.groups[key]; g != nil {
		g.attach(c)
		return false, nil
	}
	if !prog.Claim() {
		return false, ErrBusy
	}
	g := newClusterGroup(h, key, prog)
	cg, err := h.engine.Open(key, clusterHandler{g})
	if err != nil {
		prog.Free()
		prog.Ended()
		return false, err
	}
	g.cg = cg
	h.groups[key] = g
	g.attach(c)
	h.obs.GroupStarted()
	tracked := prog.Track == nil || prog.Track(g)
	h.wg.Add(1)
	go g.clusterEnd()
	if !tracked {
		g.GoAway()
	}
	return true, nil
}

func newClusterGroup(h *Hub, key string, prog Program) *group {
	log := prog.Log.With("group", key)
	g := &group{
		h: h, key: key, prog: prog, log: log,
		clients: map[*Client]struct{}{},
		ring:    newRing(h.opts.Replay),
		stopCh:  make(chan struct{}),
		endCh:   make(chan struct{}),
	}
	if h.opts.Envelope {
		g.byID = map[string]*Client{}
	}
	g.pingDone = g.startKeepalive()
	return g
}

// clusterEnd waits until the group has no clients and no program here,
// then ends this daemon's side of it.
func (g *group) clusterEnd() {
	defer g.h.wg.Done()
	<-g.endCh
	g.cg.Close() // an owner stops its program and gives the lease up
	g.stopOnce.Do(func() { close(g.stopCh) })
	<-g.pingDone
	g.wg.Wait()
	if g.prog.Free != nil {
		g.prog.Free()
	}
	g.h.obs.GroupEnded()
	g.log.Info("group end")
	if g.prog.Untrack != nil {
		g.prog.Untrack(g)
	}
	if g.prog.Ended != nil {
		g.prog.Ended()
	}
}

// maybeEnd ends the group here once it has neither clients nor a program.
func (g *group) maybeEnd(force bool) {
	g.h.mu.Lock()
	g.mu.Lock()
	end := !g.ending && (force || (len(g.clients) == 0 && !g.running))
	if end {
		g.ending = true
		g.stopping = true
		g.h.removeLocked(g)
	}
	g.mu.Unlock()
	g.h.mu.Unlock()
	if end {
		close(g.endCh)
	}
}

// clusterHandler is what the engine calls on this daemon's side.
type clusterHandler struct{ g *group }

// Deliver fans output read from the stream out to the local clients, as
// the local pump would.
func (ch clusterHandler) Deliver(ms []cluster.Message) {
	g := ch.g
	op := byte(opText)
	if g.h.opts.Binary {
		op = opBinary
	}
	for i := range ms {
		m := &ms[i]
		switch m.Kind {
		case cluster.ToAll:
			g.emit(op, m.Data)
		case cluster.ToSome:
			g.flush()
			b := &batch{buf: appendFrame(nil, op, m.Data), msgs: 1}
			n := 0
			g.mu.Lock()
			for _, id := range m.To {
				if c := g.byID[id]; c != nil && c.enqueue(b) {
					n++
				}
			}
			g.mu.Unlock()
			g.h.obs.Messages(0, 0, int64(n))
		case cluster.CloseOf:
			g.flush()
			g.mu.Lock()
			c := g.byID[m.Client]
			g.mu.Unlock()
			if c != nil {
				c.closeAfterQueued(websocket.StatusCode(m.Code), m.Reason)
			}
		case cluster.End:
			g.flush()
			g.mu.Lock()
			g.stopping = true
			for c := range g.clients {
				c.closeAfterQueued(websocket.StatusCode(m.Code), m.Reason)
			}
			g.mu.Unlock()
		}
	}
	g.flush()
}

// Start runs the program here: this daemon took the group's lease.
func (ch clusterHandler) Start() error {
	g := ch.g
	if !g.prog.Claim() {
		return ErrBusy
	}
	proc, err := g.prog.Start()
	if err != nil {
		return err
	}
	g.log.Info("group program start", "pid", proc.Pid)
	done := make(chan struct{})
	g.mu.Lock()
	g.proc, g.running, g.termDone = proc, true, done
	g.termStop, g.termStopped = make(chan struct{}), false
	g.mu.Unlock()
	g.stdinMu.Lock()
	g.stdin = proc.Stdin
	g.stdinMu.Unlock()
	go g.runOwned(proc, done) // waited for by Stop, or ends the group
	return nil
}

// runOwned serves the program with the restarts --restart asks for; a
// program that ends for good ends the group in the whole cluster.
func (g *group) runOwned(proc *process.Process, done chan struct{}) {
	backoff := restartMin
	var st process.Status
	stopped := func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-g.termStop:
			return true
		default:
			return false
		}
	}
	for {
		st = g.serve(proc)
		if stopped() || !g.restarts(st) {
			break
		}
		proc = g.restart(&backoff)
		if proc == nil {
			break
		}
	}
	if !stopped() {
		code, reason := session.EndOfSession(st, false)
		g.cg.End(int(code), reason)
	}
	g.mu.Lock()
	g.running = false
	g.mu.Unlock()
	close(done)
	g.maybeEnd(false)
}

// Stop kills the program at once: the lease is lost or the cluster idle.
func (ch clusterHandler) Stop(idle bool) {
	g := ch.g
	g.mu.Lock()
	proc, done := g.proc, g.termDone
	if g.termStop != nil && !g.termStopped {
		close(g.termStop)
		g.termStopped = true
	}
	g.mu.Unlock()
	if done == nil {
		return
	}
	if proc != nil {
		proc.Kill()
	}
	<-done
	if idle {
		g.log.Info("no clients in the cluster: program stopped")
	}
}

// Input writes one entry of the input stream to stdin, whole.
func (ch clusterHandler) Input(in cluster.Input) {
	g := ch.g
	g.stdinMu.Lock()
	defer g.stdinMu.Unlock()
	if g.stdin == nil {
		return
	}
	env := g.h.opts.Envelope
	switch in.Kind {
	case cluster.ClientMessage:
		switch {
		case env:
			g.inBuf = envelope.AppendMessage(g.inBuf[:0], in.Client, in.Data)
		case g.h.opts.Binary:
			g.inBuf = append(g.inBuf[:0], in.Data...)
		default:
			g.inBuf = append(append(g.inBuf[:0], in.Data...), '\n')
		}
		g.h.obs.Messages(1, 0, 0)
	case cluster.Join:
		if !env {
			return
		}
		g.inBuf = append(g.inBuf[:0], in.Data...)
	case cluster.Leave:
		if !env {
			return
		}
		g.inBuf = envelope.AppendLeave(g.inBuf[:0], in.Client, in.Code)
	case cluster.Gap:
		if !env {
			return
		}
		g.inBuf = envelope.AppendGap(g.inBuf[:0], in.Lost, in.Instance)
	}
	g.writeStdin(g.inBuf)
	if cap(g.inBuf) > maxKeptMsg {
		g.inBuf = nil
	}
}

// clusterOutput sends one output message of the program to the stream.
func (g *group) clusterOutput(p []byte) {
	if g.h.opts.Binary {
		g.cg.Output(cluster.Message{Kind: cluster.ToAll, Data: append([]byte(nil), p...)})
		return
	}
	if !utf8.Valid(p) {
		p = frame.AppendValidUTF8(nil, p)
	}
	if !g.h.opts.Envelope {
		g.cg.Output(cluster.Message{Kind: cluster.ToAll, Data: append([]byte(nil), p...)})
		return
	}
	e, err := envelope.Parse(p)
	switch {
	case err != nil:
		g.log.Error("bad envelope from the program", "err", err, "line", envelope.CutForLog(p))
	case e.Close != "":
		g.cg.Output(cluster.Message{Kind: cluster.CloseOf, Client: e.Close, Code: e.Code, Reason: e.Reason})
	case e.To != nil:
		g.cg.Output(cluster.Message{Kind: cluster.ToSome, To: e.To, Data: []byte(*e.Data)})
	default:
		g.cg.Output(cluster.Message{Kind: cluster.ToAll, Data: []byte(*e.Data)})
	}
}

// clusterInput sends a client's message (or join, or leave) to the input
// stream.
func (g *group) clusterInput(in cluster.Input) {
	in.Instance = g.h.engine.ID()
	g.cg.Send(in)
}
