package broadcast

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast/envelope"
	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/internal/frameguard"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// closeWait is how long a close the server chose (1013 to a client too
// slow, a protocol error's code) has to get out behind the write in
// flight, before the connection is dropped: the client's socket may be
// full, and a client that reads again should still find the close frame.
const closeWait = 5 * time.Second

// Corker is the writer under the connection's WebSocket framing
// (frame.CorkWriter): what is written while corked leaves in one write at
// Uncork; TryWrite writes without waiting, as much as the socket takes,
// keeping the rest of a frame it cut for Flush; TryWritev does the same for
// several buffers in one system call.
type Corker interface {
	io.Writer
	Cork()
	Uncork() error
	TryWrite(p []byte) int
	TryWritev(bufs [][]byte) int
	Flush() error
}

// Client is one connection attached to a group. Output reaches it through a
// bounded queue of shared batches, written by a goroutine that runs only
// while there is something to write, so an idle client holds no buffer and
// only the goroutine that reads it.
type Client struct {
	info envelope.ClientInfo
	conn *websocket.Conn
	out  Corker
	g    *group // set by attach

	// Set by attach, under group.mu: the shard that writes it and its
	// index there, and the first batch it gets from its shard (the ones
	// before are in its replay).
	shard *shard
	slot  int
	from  uint64

	mu          sync.Mutex
	queue       []*batch
	queued      int  // bytes queued or being written
	writing     bool // a writer goroutine runs
	flush       bool // the writer is to send the rest of a frame cut by TryWrite
	detached    bool // no more output is queued
	dead        bool // the connection failed; nothing more is written
	closeCode   websocket.StatusCode
	closeReason string
	closeSent   bool
	closeTimer  *time.Timer // drops the connection if the close is stuck

	joined  bool // guarded by g.stdinMu: the program got its join event
	pinging atomic.Bool

	// The endpoint's per-client limits (Limit): the rate is the reader's,
	// the idle timer runs while the reader does.
	limits session.Limits
	obs    session.Observer
	rate   session.MsgLimiter
	idle   *session.IdleTimer
	// Compression (deflate.go): deflate sends the batches' shared
	// compressed form; ctxDeflate compresses for this client alone.
	deflate    bool
	ctxDeflate *contextDeflater
	inflated   frameguard.InflateCheck

	// The subprotocol wsbridge.broadcast.v1 (resume.go): the client gets
	// batches in its form, from where it resumes; under mu, skip is the
	// offset up to which it has the output already, and hold says its
	// history is being read (live output is not queued meanwhile).
	v1     bool
	resume *Resume
	skip   uint64
	hold   bool
}

// SpeakV1 makes the client one of the subprotocol wsbridge.broadcast.v1,
// resuming after r if not nil; before it joins.
func (c *Client) SpeakV1(r *Resume) { c.v1, c.resume = true, r }

// v1FormLocked is what of b the client gets; nil if nothing.
func (c *Client) v1FormLocked(b *batch) *batch {
	if c.hold || b.v1 == nil {
		return nil
	}
	b = b.v1
	if c.skip > 0 {
		if b = b.after(c.skip); b != nil {
			c.skip = 0 // the offsets that follow are larger
		}
	}
	return b
}

func (c *Client) setSkip(off uint64) {
	c.mu.Lock()
	c.skip = off
	c.mu.Unlock()
}

// unhold queues the history read for the client, then what follows.
func (c *Client) unhold(b *batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	if b == nil || c.detached || c.dead || c.closeCode != 0 {
		return
	}
	b = c.prepare(b)
	c.queue = append([]*batch{b}, c.queue...)
	c.queued += len(c.bytesOf(b))
	c.startWriterLocked()
}

// NewClient wraps an accepted connection; out must be the writer coder/
// websocket writes its frames to, so control frames and output keep order.
func NewClient(conn *websocket.Conn, out Corker, info envelope.ClientInfo) *Client {
	return &Client{info: info, conn: conn, out: out}
}

// Limit applies the endpoint's --msg-rate and --idle-timeout to the client;
// obs counts the messages it drops. Call it before the client joins: the
// idle timer starts now and stops when the client's reader ends.
func (c *Client) Limit(l session.Limits, obs session.Observer) {
	c.limits, c.obs, c.rate = l, obs, l.NewMsgLimiter()
	c.idle = session.NewIdleTimer(l.IdleTimeout, c.idleTimeout)
}

// ID is the client's ID.
func (c *Client) ID() string { return c.info.ID }

// detach stops queueing output; a close already due is still sent.
func (c *Client) detach() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.detached = true
	if c.closeCode == 0 {
		c.queue = nil
	}
}

// dropLaterLocked arms the timer that drops the connection if a close the
// server chose has not closed it within closeWait.
func (c *Client) dropLaterLocked() {
	if c.closeTimer == nil {
		c.closeTimer = time.AfterFunc(closeWait, func() { c.conn.CloseNow() })
	}
}

// release closes the connection once its reader has ended. The reader is
// the connection's owner: coder/websocket closes a connection by itself
// only when a close frame comes or goes, so one that just drops (a reset,
// a FIN, a reset in the middle of a frame) stays open, descriptor and all,
// unless it is closed here. A close the server chose is left to the writer
// (Conn.Close closes the connection when the handshake is over), bounded
// by closeWait; anything else is closed now.
func (c *Client) release() {
	c.mu.Lock()
	closing := c.closeCode != 0 && !c.dead
	if closing {
		c.dropLaterLocked()
	}
	c.mu.Unlock()
	if !closing {
		c.conn.CloseNow()
	}
}

// sentCode is the close code the server chose for the client, 0 if none.
func (c *Client) sentCode() websocket.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

// readLoop carries the client's messages to the group's stdin, each whole,
// until the connection ends; the client then leaves the group, and its
// connection is released.
func (c *Client) readLoop() {
	defer c.g.wg.Done()
	c.g.joinEvent(c)
	code := c.readMessages()
	c.idle.Stop()
	c.g.leave(c, code)
	c.release()
}

// readMessages reads until the connection ends, or until the client broke
// the protocol (then it is closed after what is queued for it, and no
// longer read), and returns the close code it ended with, for the leave
// event. The gate's frameguard has checked each frame, UTF-8 of text
// included, before coder/websocket reads it.
func (c *Client) readMessages() int {
	h := c.g.h
	for {
		typ, r, err := c.conn.Reader(context.Background())
		if err != nil {
			return c.endCode(err)
		}
		c.idle.Touch()
		r = c.inflated.Check(typ, r)
		switch c.rate.Check() {
		case session.Drop:
			c.obs.MessageDropped(session.DroppedMsgRate)
			if _, err := io.Copy(io.Discard, r); err != nil {
				return c.endCode(err)
			}
			continue
		case session.Close:
			c.g.log.Info("client over --msg-rate: closing", "client", c.info.ID, "remote", c.info.Remote, "msg_rate", c.limits.MsgRate.String())
			c.closeAfterQueued(session.StatusRateLimited, c.limits.RateLimitReason())
			return int(session.StatusRateLimited)
		}
		if typ == websocket.MessageBinary && !h.opts.Binary {
			c.closeAfterQueued(websocket.StatusUnsupportedData, "binary messages are not accepted: this endpoint is in text mode")
			return int(websocket.StatusUnsupportedData)
		}
		msg, err := readWhole(r, frame.GetChunk()[:0], int64(h.inputLimit))
		if err == nil {
			c.g.input(c, msg)
		}
		frame.PutChunk(msg) // keeps only standard-size buffers
		switch {
		case errors.Is(err, frame.ErrTooBig):
			reason := session.CloseReason("message larger than --maxframesize=%d bytes", h.opts.MaxFrameSize)
			if h.opts.MaxFrameSize == 0 {
				reason = session.CloseReason("message larger than --client-queue=%d bytes", h.inputLimit)
			}
			c.closeAfterQueued(websocket.StatusMessageTooBig, reason)
			return int(websocket.StatusMessageTooBig)
		case err != nil:
			return c.endCode(err)
		}
	}
}

// idleTimeout closes a client that sent nothing and was sent nothing for
// --idle-timeout; the group's program goes on for the others.
func (c *Client) idleTimeout() {
	c.g.log.Info("idle: no input and no output for --idle-timeout; closing the client", "client", c.info.ID, "remote", c.info.Remote, "idle_timeout", c.limits.IdleTimeout.String())
	c.closeAfterQueued(session.StatusIdle, session.CloseReason("idle for %s", c.limits.IdleTimeout))
}

// endCode is the close code a connection that failed with err ended with:
// the one the server sent or now sends for a protocol error, the client's,
// or 1006 when it just dropped.
func (c *Client) endCode(err error) int {
	var v *frameguard.Violation
	if errors.As(err, &v) {
		c.closeAfterQueued(v.Code, v.Reason)
	}
	if code := c.sentCode(); code != 0 {
		return int(code)
	}
	if code := websocket.CloseStatus(err); code != -1 {
		return int(code)
	}
	return int(websocket.StatusAbnormalClosure)
}

// readWhole appends one client message to dst, whole, with the read pipe
// sessions use: past limit the error is frame.ErrTooBig.
func readWhole(r io.Reader, dst []byte, limit int64) ([]byte, error) {
	var total int64
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, cap(dst))
		}
		n, err := frame.ReadCounted(r, dst[len(dst):cap(dst)], &total, limit)
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}
