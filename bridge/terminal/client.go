package terminal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/internal/frameguard"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// ttyClient is one connection to a terminal session. Its reader goroutine
// takes input (binary frames) to the terminal and control messages (text
// frames); its writer goroutine sends its queue: output chunks and control
// messages, in order, holding output while the client has paused. A third
// goroutine pings with --pingms. All are counted in the process's WaitGroup.
type ttyClient struct {
	t      *Kind
	g      session.Gate
	p      *ttyProc // set by attach
	conn   *websocket.Conn
	log    *slog.Logger
	remote string
	since  time.Time
	// watcher: the terminal is writable, but not by this client (a
	// read-only link, --writers, --writers-claim). Its input is dropped and
	// its size does not count.
	watcher bool
	ctx     context.Context // ends when the client is detached; only for pings
	cancel  context.CancelFunc

	// Guarded by p.mu.
	queue  []outItem
	head   int // queue[head:] is waiting
	queued int // bytes held by the queue, for sharedQueueLimit
	chunks int // output chunks waiting, for the pump's flow control
	size   process.Winsize
	paused bool
	// replayBytes is the size of the screen replayed at attach: a joiner
	// of a shared session may be that much further behind, or a replay
	// near sharedQueueLimit (a long, colourful scrollback) would have it
	// dropped before it could read a byte, again at every reconnect.
	replayBytes int
	closing     bool // a close is queued: nothing more is
	gone        bool // detached: the writer stops

	wake         chan struct{} // the writer has something to look at
	droppedInput atomic.Bool   // read-only: logged once
	bytesIn      atomic.Int64
	bytesOut     atomic.Int64
	closeTimer   *time.Timer // forces a queued close through a stuck socket
	// inflated checks what coder/websocket inflated when the connection
	// negotiated compression (the frameguard saw compressed bytes only).
	inflated frameguard.InflateCheck
}

func newTTYClient(t *Kind, g session.Gate, conn *websocket.Conn, r *http.Request) *ttyClient {
	c := &ttyClient{
		t: t, g: g, conn: conn, remote: r.RemoteAddr, since: time.Now(),
		size:    session.RequestSize(r),
		watcher: t.opts.Writable && session.IsReadOnly(r),
		wake:    make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// start runs the client's goroutines, with p.mu held by attach.
func (c *ttyClient) start() {
	c.p.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	if interval := c.g.Tunables().PingInterval; interval > 0 {
		c.p.wg.Add(1)
		go func() { // pings while the client is attached
			defer c.p.wg.Done()
			frame.Keepalive(c.ctx, c.conn, interval, nil, c.log, session.LevelAccess)
		}()
	}
}

func (c *ttyClient) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// outItem is one entry of a client's queue.
type outItem struct {
	chunk  *outChunk // output, a binary frame
	text   []byte    // a control message, a text frame
	close  bool      // close the connection with code and reason
	code   websocket.StatusCode
	reason string
}

func (it outItem) size() int {
	if it.chunk != nil {
		return cap(it.chunk.b)
	}
	return len(it.text)
}

// pushChunkLocked queues output; the queue takes a reference of its own.
// A client of a shared session that falls too far behind is dropped.
func (c *ttyClient) pushChunkLocked(chunk *outChunk) {
	if c.closing || c.gone {
		return
	}
	if c.p.t.opts.Shared && c.queued+cap(chunk.b) > sharedQueueLimit+c.replayBytes {
		c.log.Log(context.Background(), session.LevelAccess, "dropped: too slow for the shared session", "behind", c.queued)
		c.dropAndCloseLocked(websocket.StatusTryAgainLater, "too slow for the shared session")
		return
	}
	chunk.refs.Add(1)
	c.pushLocked(outItem{chunk: chunk})
	c.chunks++
}

// pushTextLocked queues a control message.
func (c *ttyClient) pushTextLocked(msg any) {
	if c.closing || c.gone {
		return
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err) // our own message types always marshal
	}
	c.pushLocked(outItem{text: b})
}

func (c *ttyClient) pushLocked(it outItem) {
	c.queue = append(c.queue, it)
	c.queued += it.size()
	c.signal()
}

// closeAfterLocked queues a close behind the output already queued.
func (c *ttyClient) closeAfterLocked(code websocket.StatusCode, reason string) {
	if c.closing || c.gone {
		return
	}
	c.closing = true
	c.pushLocked(outItem{close: true, code: code, reason: reason})
	c.forceCloseLater()
}

// dropAndCloseLocked detaches c from the output, forgets what it has not
// been sent, and closes it now.
func (c *ttyClient) dropAndCloseLocked(code websocket.StatusCode, reason string) {
	if c.closing || c.gone {
		return
	}
	c.dropQueueLocked()
	c.p.removeLocked(c)
	c.closeAfterLocked(code, reason)
}

// forceCloseLater drops the connection if the close has not gone out in
// time: a writer stuck on a client that reads nothing never gets to it.
func (c *ttyClient) forceCloseLater() {
	c.closeTimer = time.AfterFunc(closeTimeout, func() { c.conn.CloseNow() })
}

// closeTimeout bounds a queued close: coder/websocket's own close handshake
// takes up to 5 s on each side, and a queue may still be draining.
const closeTimeout = 15 * time.Second

func (c *ttyClient) dropQueueLocked() {
	for i := c.head; i < len(c.queue); i++ {
		if ch := c.queue[i].chunk; ch != nil {
			ch.release()
		}
		c.queue[i] = outItem{}
	}
	c.queue, c.head, c.queued, c.chunks = c.queue[:0], 0, 0, 0
}

// next waits for the next item the writer may send: anything but output
// while paused. Pausing is lifted once the process has exited: what is left
// is small, and the close must follow.
func (c *ttyClient) next() (outItem, bool) {
	p := c.p
	for {
		p.mu.Lock()
		if c.gone {
			p.mu.Unlock()
			return outItem{}, false
		}
		if c.head < len(c.queue) {
			it := c.queue[c.head]
			if it.chunk == nil || !c.paused || p.exited {
				c.queue[c.head] = outItem{}
				c.head++
				if c.head == len(c.queue) {
					c.queue, c.head = c.queue[:0], 0
				}
				c.queued -= it.size()
				if it.chunk != nil {
					c.chunks--
				}
				p.mu.Unlock()
				if it.chunk != nil {
					p.signalDrained()
				}
				return it, true
			}
		}
		p.mu.Unlock()
		<-c.wake
	}
}

func (c *ttyClient) writeLoop() {
	defer c.p.wg.Done()
	for {
		it, ok := c.next()
		if !ok {
			return
		}
		var err error
		switch {
		case it.close:
			c.conn.Close(it.code, it.reason)
			return
		case it.chunk != nil:
			err = c.conn.Write(bg, websocket.MessageBinary, it.chunk.b)
			c.bytesOut.Add(int64(len(it.chunk.b)))
			it.chunk.release()
		default:
			err = c.conn.Write(bg, websocket.MessageText, it.text)
		}
		if err != nil {
			// The reader sees the connection go and detaches.
			c.conn.CloseNow()
			return
		}
	}
}

// readLoop reads the client until its connection ends, then detaches it.
func (c *ttyClient) readLoop() {
	defer c.p.wg.Done()
	var why error
	defer func() { c.detached(why) }()
	defer func() { c.failOnViolation(why) }()
	for {
		typ, r, err := c.conn.Reader(bg)
		if err != nil {
			why = err
			return
		}
		r = c.inflated.Check(typ, r)
		if typ == websocket.MessageBinary {
			err = c.input(r)
		} else {
			err = c.controlFrame(r)
		}
		if err != nil {
			why = err
			return
		}
	}
}

// failOnViolation closes with the code a client's protocol error calls
// for (frameguard held the bad bytes back, so coder/websocket has not
// answered it). Terminal output owes the client nothing: it goes now.
//
// A token's expiry is told once the client has left: if its leaving stops
// the program (the last client, no --reconnect), after the kill sequence.
// With --reconnect the program waits for the client to come back with a
// fresh token; with --shared the others keep it.
func (c *ttyClient) failOnViolation(err error) {
	var v *frameguard.Violation
	if !errors.As(err, &v) {
		return
	}
	if v.Code == session.StatusTokenExpired {
		p := c.p
		p.mu.Lock()
		p.removeLocked(c)
		stopped := p.stopping.Load()
		p.mu.Unlock()
		if stopped {
			<-p.proc.Done() // the end of the kill sequence at the latest
		}
	}
	c.conn.Close(v.Code, v.Reason)
}

// detached is the client's end: out of the session, its slot given back.
func (c *ttyClient) detached(why error) {
	c.p.detach(c)
	c.cancel()
	c.conn.CloseNow() // a writer blocked on the socket returns
	c.t.releaseClient()
	attrs := []any{"path", c.p.path, "duration_ms", time.Since(c.since).Milliseconds(),
		"bytes_in", c.bytesIn.Load(), "bytes_out", c.bytesOut.Load()}
	if why != nil {
		attrs = append(attrs, "client", session.ClientCloseText(why))
	}
	c.log.Log(context.Background(), session.LevelAccess, "disconnect", attrs...)
}

// input passes a binary frame to the terminal, as it arrives, or drops it
// when the session is read-only. It never waits for the program. Unlike a
// pipe session's stdin (frame.StdinWriter.ReadMessage) it does not hold a
// frame until it is whole: keystrokes need no framing, and a paste must not
// wait for its end; the read and its --maxframesize count are the same.
func (c *ttyClient) input(r io.Reader) error {
	limit := c.t.opts.MaxFrameSize
	writable := c.writable()
	if !writable {
		c.g.Observer().MessageDropped(session.DroppedReadOnly)
		if c.droppedInput.CompareAndSwap(false, true) {
			why := "the terminal is read-only (--writable)"
			if c.watcher {
				why = "this client only watches (a read-only link, --writers, --writers-claim)"
			}
			c.log.Debug("input dropped: " + why)
		}
	}
	buf := frame.GetChunk()
	defer frame.PutChunk(buf)
	var total int64
	for {
		n, err := frame.ReadCounted(r, buf, &total, limit)
		if err == frame.ErrTooBig {
			c.conn.Close(websocket.StatusMessageTooBig, session.CloseReason("input frame larger than --maxframesize=%d bytes", limit))
			return err
		}
		if err != nil && err != io.EOF {
			// A read that failed (the connection dropped in the middle of a
			// frame) comes back from coder/websocket still masked: its
			// bytes are noise, which a terminal would take for keys
			// (Ctrl-\ quits the program of every viewer).
			return err
		}
		if n > 0 && writable {
			c.bytesIn.Add(int64(n))
			c.p.write(buf[:n])
		}
		if err == io.EOF {
			if writable {
				c.p.msgsIn.Add(1)
				c.p.idle.Touch()
			}
			return nil
		}
	}
}

// writable reports whether c's keys reach the program.
func (c *ttyClient) writable() bool { return c.t.opts.Writable && !c.watcher }

// controlFrame handles one text frame.
func (c *ttyClient) controlFrame(r io.Reader) error {
	msg, err := readControl(r)
	switch {
	case errors.Is(err, errControlTooBig):
		c.conn.Close(websocket.StatusMessageTooBig, session.CloseReason("%v", err))
		return err
	case errors.Is(err, errBadControl):
		c.conn.Close(websocket.StatusInvalidFramePayloadData, session.CloseReason("%v", err))
		return err
	case err != nil:
		return err
	}
	p := c.p
	switch msg.Type {
	case "resize":
		if !session.ValidCells(msg.Cols) || !session.ValidCells(msg.Rows) {
			c.log.Debug("resize ignored: size out of range", "cols", msg.Cols, "rows", msg.Rows)
			return nil
		}
		if c.watcher {
			c.log.Debug("resize ignored: a watcher does not size the terminal")
			return nil
		}
		p.mu.Lock()
		c.size = process.Winsize{Cols: uint16(msg.Cols), Rows: uint16(msg.Rows)}
		if _, attached := p.clients[c]; attached {
			p.resizeLocked()
		}
		p.mu.Unlock()
	case "pause", "resume":
		p.mu.Lock()
		c.paused = msg.Type == "pause"
		p.mu.Unlock()
		c.signal()
	case "sync":
		// Input flow control for uploads: the page sends a file no faster
		// than the program reads it, instead of running into the 1 MiB
		// of input the server holds for a program (beyond it input is
		// dropped).
		if !c.writable() {
			return nil // a read-only client's input goes nowhere to wait for
		}
		seq := msg.Seq
		p.input.sync(c, func() {
			p.mu.Lock()
			c.pushTextLocked(syncedMsg{Type: "synced", Seq: seq})
			p.mu.Unlock()
		})
	default:
		c.log.Debug("control message ignored: unknown type", "type", msg.Type)
	}
	return nil
}

// The connection's context is never cancelled while reading or writing: an
// expired context would make coder/websocket close the connection.
var bg = context.Background()
