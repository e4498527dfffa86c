package terminal

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// ttyProc is one program on a pseudo-terminal with the clients attached to
// it: one, or with Shared any number; with Reconnect, for a while, none.
//
// Its pump goroutine reads the terminal a chunk at a time, appends the chunk
// to the screen state (with Reconnect or Shared) and queues it for every
// attached client. A feeder goroutine has the screen's emulator parse that
// output in the program's lulls (see screen). Before reading on, it waits until some client has
// nothing queued. With one client, a paused or slow client thus stops the
// reading, the terminal fills and the program blocks on its writes: at most
// one chunk is in flight. With Shared the fastest client sets the pace, and
// a client that falls more than sharedQueueLimit behind it is dropped with
// 1013 (the page comes back for a replay): a slow client never slows the
// others. Without clients (waiting for a reconnect) the pump reads on into
// the screen state.
type ttyProc struct {
	t     *Kind
	g     session.Gate
	slot  session.Slot // the process's, given back when it is reaped
	id    string
	token string // "" when the session cannot be resumed
	path  string // the request path the token is valid for
	key   string // the endpoint, for Shared
	cmd   string // the command line, for titles
	log   *slog.Logger
	proc  *process.Process
	input *ttyInput
	start time.Time

	goingAway atomic.Bool // the server is shutting down: close with 1001
	idleOut   atomic.Bool // --idle-timeout ran out: close with 4408
	stopping  atomic.Bool // the kill sequence began: no more attaches
	idle      *session.IdleTimer

	mu      sync.Mutex
	clients map[*ttyClient]struct{} // attached: they get output
	all     map[*ttyClient]struct{} // running: attached or closing
	screen  *screen                 // nil without Reconnect or Shared
	size    process.Winsize
	exited  bool        // the process group is gone: drain without pausing
	ended   bool        // output is over; clients are being closed
	expiry  *time.Timer // the Reconnect window while detached
	wg      sync.WaitGroup
	drained chan struct{} // a client's queue shrank or a client left
	lastOut time.Time     // when the pump last delivered output
	feedCue chan struct{} // output for the feeder
	feedEnd chan struct{} // closed when the feeder must stop

	bytesIn, bytesOut, msgsIn, msgsOut atomic.Int64
}

// start starts the connection's program for a new session with first
// attached, with t.mu held, and registers it. The first client is attached
// before the terminal is read, so it gets every byte even of a program that
// is quick to write and to exit. The process keeps slot until it is reaped.
func (t *Kind) start(sc *session.Conn, slot session.Slot, first *ttyClient) (*ttyProc, error) {
	r, g := sc.Request, sc.Gate
	cfg := sc.Program()
	// The browser terminal keeps the usual echo, which a terminal emulator
	// expects.
	session.OnTerminal(&cfg, session.RequestSize(r), t.opts.Term, true)
	session.LoginEnv(&cfg)
	proc, err := process.Start(cfg)
	if err != nil {
		return nil, err
	}
	p := &ttyProc{
		t: t, g: g, slot: slot, id: sc.ID, path: r.URL.Path, key: sc.Endpoint.ScriptName,
		cmd:  strings.Join(cfg.Args, " "),
		log:  g.Logger().With("session", sc.ID, "pid", proc.Pid),
		proc: proc, start: time.Now(),
		clients: map[*ttyClient]struct{}{},
		all:     map[*ttyClient]struct{}{},
		size:    *cfg.Terminal,
		drained: make(chan struct{}, 1),
	}
	p.input = newTTYInput(proc.Stdin)
	if t.resumable() {
		p.token = newToken()
		p.screen = newScreen(p.size, t.opts.Scrollback)
		p.feedCue, p.feedEnd = make(chan struct{}, 1), make(chan struct{})
		p.wg.Add(1)
		go p.feeder() // waited for by run, with the clients
	}
	p.idle = session.NewIdleTimer(g.Limits().IdleTimeout, p.idleTimeout)
	t.register(p)
	g.Observer().SessionStarted()
	p.log.Log(r.Context(), session.LevelAccess, "start", "remote", r.RemoteAddr, "path", r.URL.Path, "command", p.cmd)
	p.attach(first)
	g.Track(p)
	go p.run() // owned by the registry, which waits for it
	return p, nil
}

func (p *ttyProc) run() {
	// As for pipe sessions: the --maxforks slot goes back before the
	// registry lets Shutdown return, and --once shuts down after that.
	defer p.slot.Ended()
	defer p.g.Untrack(p)
	defer p.slot.Free()

	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		if err := p.pump(); err != nil {
			p.log.Error("read terminal", "err", err)
		}
	}()
	select {
	case <-pumped:
	case <-p.proc.Done():
		// The whole group is gone. Let the clients drain whatever pause
		// they asked for, and take what is left in the terminal without
		// waiting for more: a process that escaped the group may hold it
		// open forever.
		p.setExited()
		p.proc.Stdout.SetReadDeadline(time.Now())
		<-pumped
	}
	p.stopping.Store(true)
	p.proc.Stop()
	<-p.proc.Done()
	p.idle.Stop()
	p.setExited()
	st := p.proc.Status()
	// Input nobody will read: a write stuck on it gives up now.
	p.proc.Stdin.SetWriteDeadline(time.Now())
	p.input.close()
	<-p.input.done

	p.t.unregister(p)
	code, reason := session.EndOfSession(st, p.goingAway.Load())
	if p.idleOut.Load() && !p.goingAway.Load() {
		code, reason = session.StatusIdle, session.CloseReason("idle for %s", p.g.Limits().IdleTimeout)
	}
	p.mu.Lock()
	p.ended = true
	if p.expiry != nil {
		p.expiry.Stop()
	}
	for c := range p.clients {
		c.closeAfterLocked(code, reason) // after all the output
	}
	clear(p.clients)
	p.mu.Unlock()
	if p.feedEnd != nil {
		close(p.feedEnd)
	}
	p.wg.Wait()
	p.proc.Release()

	d := time.Since(p.start)
	p.g.Observer().SessionEnded(code, d, p.bytesIn.Load(), p.bytesOut.Load(), p.msgsIn.Load(), p.msgsOut.Load())
	p.log.Log(context.Background(), session.LevelAccess, "exit", "path", p.path, "exit", st.String(),
		"duration_ms", d.Milliseconds(), "bytes_in", p.bytesIn.Load(), "bytes_out", p.bytesOut.Load())
}

func (p *ttyProc) setExited() {
	p.mu.Lock()
	p.exited = true
	for c := range p.all {
		c.signal()
	}
	p.mu.Unlock()
	p.signalDrained()
}

func (p *ttyProc) signalDrained() {
	select {
	case p.drained <- struct{}{}:
	default:
	}
}

// GoAway: the server is shutting down (session.Member).
func (p *ttyProc) GoAway() {
	p.goingAway.Store(true)
	p.stopping.Store(true)
	p.proc.Stop()
}

// idleTimeout: no client typed and the program wrote nothing for
// --idle-timeout. The program gets the kill sequence and every client
// close 4408.
func (p *ttyProc) idleTimeout() {
	p.log.Info("idle: no input and no output for --idle-timeout; ending the session", "idle_timeout", p.g.Limits().IdleTimeout.String())
	p.idleOut.Store(true)
	p.stopping.Store(true)
	p.proc.Stop()
}

// ForceClose: shutdown ran out of time (session.Member).
func (p *ttyProc) ForceClose() {
	p.proc.Kill()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.all {
		c.conn.CloseNow()
	}
}

// pump carries the terminal's output to the clients until it ends.
func (p *ttyProc) pump() error {
	rc, err := newChunkSource(p.proc.Stdout)
	if err != nil {
		return err
	}
	for {
		chunk, err := readChunk(rc)
		if chunk != nil {
			p.deliver(chunk)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		p.waitForRoom()
	}
}

// deliver appends a chunk to the screen state and queues it for every
// attached client, in one step under the lock, so a client attaching now
// gets each byte exactly once: in its replay or live.
func (p *ttyProc) deliver(chunk *outChunk) {
	p.bytesOut.Add(int64(len(chunk.b)))
	p.idle.Touch()
	p.msgsOut.Add(1)
	p.mu.Lock()
	if p.screen != nil {
		p.screen.write(chunk.b)
		p.lastOut = time.Now()
		select {
		case p.feedCue <- struct{}{}:
		default:
		}
	}
	for c := range p.clients {
		c.pushChunkLocked(chunk)
	}
	p.mu.Unlock()
	chunk.release() // the pump's own reference
}

// waitForRoom holds the pump while every client has output queued: the
// flow control that keeps a flood out of the browser. After the process has
// exited it does not wait: only what is left in the terminal remains. While
// it waits, the screen's emulator parses what it has not yet.
func (p *ttyProc) waitForRoom() {
	for {
		p.mu.Lock()
		busy := !p.exited && len(p.clients) > 0
		for c := range p.clients {
			busy = busy && c.chunks > 0
		}
		p.mu.Unlock()
		if !busy {
			return
		}
		<-p.drained
	}
}

// feeder has the screen's emulator parse the output the pump delivered, a
// slice at a time under the lock, once the program has paused for
// feedLull. When more than feedEager is waiting without a pause, it skips
// what a plain-text flood scrolled away, and parses only if that is not
// enough. So a flood is not slowed by the emulator, and a program writing
// without pause is still followed.
func (p *ttyProc) feeder() {
	defer p.wg.Done()
	wait := time.NewTimer(feedLull)
	defer wait.Stop()
	for {
		select {
		case <-p.feedEnd:
			return
		case <-p.feedCue:
		}
		for {
			select {
			case <-p.feedEnd: // the session is over: nobody will attach
				return
			default:
			}
			p.mu.Lock()
			if !p.screen.unfed() {
				p.mu.Unlock()
				break
			}
			if quiet := time.Since(p.lastOut); quiet < feedLull && p.screen.unfedBytes() < feedEager {
				p.mu.Unlock()
				wait.Reset(feedLull - quiet)
				select {
				case <-p.feedEnd:
					return
				case <-wait.C:
				}
				continue
			}
			if time.Since(p.lastOut) < feedLull {
				// Output keeps coming: only what keeps pending from
				// overflowing.
				p.screen.catchUp()
			} else {
				p.screen.feed(feedSlice)
			}
			p.mu.Unlock()
		}
	}
}

// attach adds c, with t.mu held. Under p.mu, so nothing of the output can
// come between, c's queue gets hello, the title and the replay; live output
// follows. Without Shared a client already attached is taken over: it is
// closed with 4409. It reports false if the process is on its way out.
func (p *ttyProc) attach(c *ttyClient) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || p.stopping.Load() {
		return false
	}
	if p.expiry != nil {
		p.expiry.Stop()
		p.expiry = nil
	}
	resumed := p.screen != nil && p.screen.written
	c.p = p
	c.log = p.log.With("remote", c.remote)
	p.clients[c] = struct{}{}
	p.all[c] = struct{}{}
	if !p.t.opts.Shared {
		for old := range p.clients {
			if old != c {
				old.log.Log(context.Background(), session.LevelAccess, "taken over", "by", c.remote)
				old.dropAndCloseLocked(StatusTakenOver, "session taken over by another connection")
			}
		}
	}
	c.pushTextLocked(helloMsg{Type: "hello", Session: p.token, Writable: c.writable(), Watcher: c.watcher, Reconnect: p.t.resumable(),
		Transfer: c.writable() && !p.t.opts.NoTransfer})
	if title, ok := p.title(c); ok {
		c.pushTextLocked(titleMsg{Type: "title", Title: title})
	}
	if resumed {
		c.pushTextLocked(typeMsg{Type: "replay"})
		replay := p.screen.replay()
		c.replayBytes = len(replay)
		for len(replay) > 0 {
			n := min(len(replay), frame.ChunkSize)
			c.pushChunkLocked(newOwnedChunk(replay[:n:n]))
			replay = replay[n:]
		}
		c.pushTextLocked(typeMsg{Type: "live"})
	}
	p.resizeLocked()
	c.start()
	c.log.Log(context.Background(), session.LevelAccess, "connect", "path", p.path, "resumed", resumed, "clients", len(p.clients))
	return true
}

// detach removes c once its connection is over (c's reader calls it last).
func (p *ttyProc) detach(c *ttyClient) {
	p.mu.Lock()
	c.gone = true
	if c.closeTimer != nil {
		c.closeTimer.Stop()
	}
	c.dropQueueLocked()
	p.removeLocked(c)
	delete(p.all, c)
	p.mu.Unlock()
	c.signal()
	p.signalDrained()
}

// removeLocked takes c out of the attached clients. When the last one
// leaves a running process, the process is stopped, or with Reconnect
// given that long to be resumed.
func (p *ttyProc) removeLocked(c *ttyClient) {
	if _, ok := p.clients[c]; !ok {
		return
	}
	delete(p.clients, c)
	if p.ended {
		return
	}
	if len(p.clients) > 0 {
		p.resizeLocked()
		return
	}
	if d := p.t.opts.Reconnect; d > 0 {
		p.log.Log(context.Background(), session.LevelAccess, "detached", "keep", d.String())
		p.expiry = time.AfterFunc(d, p.expire)
		return
	}
	p.stopping.Store(true)
	p.proc.Stop()
}

// expire ends a session nobody resumed within the Reconnect window.
func (p *ttyProc) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || len(p.clients) > 0 || p.expiry == nil {
		return
	}
	p.expiry = nil
	p.log.Log(context.Background(), session.LevelAccess, "reconnect window over: stopping")
	p.stopping.Store(true)
	p.proc.Stop()
}

// resizeLocked sets the terminal to its clients' size: the smallest columns
// and rows over them, so everyone sees all of it. Without clients it stays.
func (p *ttyProc) resizeLocked() {
	var size process.Winsize
	for c := range p.clients {
		if c.watcher {
			continue
		}
		if size.Cols == 0 || c.size.Cols < size.Cols {
			size.Cols = c.size.Cols
		}
		if size.Rows == 0 || c.size.Rows < size.Rows {
			size.Rows = c.size.Rows
		}
	}
	if size.Cols == 0 || size.Rows == 0 || size == p.size {
		return
	}
	if err := p.proc.Resize(size); err != nil {
		p.log.Debug("resize", "err", err)
		return
	}
	p.size = size
	if p.screen != nil {
		p.screen.resize(size)
	}
}

// title renders --title-format for c.
func (p *ttyProc) title(c *ttyClient) (string, bool) {
	tmpl := p.t.opts.Title
	if tmpl == nil {
		return "", false
	}
	var b strings.Builder
	host, _ := session.SplitHostPort(c.remote)
	if err := tmpl.Execute(&b, TitleData{Command: p.cmd, Hostname: p.t.hostname, RemoteAddr: host}); err != nil {
		p.log.Debug("title", "err", err)
		return "", false
	}
	s := b.String()
	if len(s) > maxTitle {
		s = s[:frame.RuneCut([]byte(s), maxTitle)]
	}
	return s, true
}

// write queues client input for the program.
func (p *ttyProc) write(b []byte) {
	queued, firstDrop := p.input.push(b)
	if firstDrop {
		p.log.Info("input dropped: the program has not read the 1 MiB of input already queued")
	}
	if queued {
		p.bytesIn.Add(int64(len(b)))
	}
}
