package broadcast

// A client's output: batches reach it from its shard's pass (enqueueBatches),
// written at once while its socket takes them, or queued for a writer
// goroutine (drain) that runs only while something waits.

import "github.com/coder/websocket"

// enqueue queues b for the client, and reports whether it did (see
// enqueueBatches).
func (c *Client) enqueue(b *batch) bool {
	var scratch passScratch
	return c.enqueueBatches([]*batch{b}, &scratch) > 0
}

// passScratch is the buffers a shard's pass reuses from client to client.
type passScratch struct {
	mine  []*batch // the batches in the client's form
	iovec [][]byte // their bytes
}

// formLocked is b as the client gets it, nil if it gets none of it: the
// plain frames or, for a client of wsbridge.broadcast.v1, the subprotocol's
// form from where it resumes (v1FormLocked); then, with context takeover,
// compressed by the client's own deflater (prepare). It runs for one
// client with c.mu held, in the order the client is sent the batches (its
// shard's passes, one at a time), so that deflater sees them in that
// order. The shared compressed form is picked when the bytes are written
// (bytesOf).
func (c *Client) formLocked(b *batch) *batch {
	if c.v1 {
		if b = c.v1FormLocked(b); b == nil {
			return nil
		}
	} else if len(b.buf) == 0 { // events of the subprotocol only
		return nil
	}
	return c.prepare(b)
}

// enqueueBatches hands the client the batches of its shard's pass, in
// order, skipping those from before it was attached, and returns how many
// messages it took. If nothing waits for it they are written at once, in
// one write, as far as its socket takes them without waiting: no goroutine
// is woken for a client that keeps up. The rest is queued for its writer. A
// client whose queue would exceed the limit is closed as too slow instead:
// what it has not yet been sent is dropped, and the close follows what is
// in flight.
func (c *Client) enqueueBatches(bs []*batch, scratch *passScratch) int {
	for len(bs) > 0 && bs[0].seq < c.from {
		bs = bs[1:]
	}
	if len(bs) == 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.detached || c.dead || c.closeCode != 0 {
		return 0
	}
	mine := scratch.mine[:0]
	for _, b := range bs {
		if b = c.formLocked(b); b != nil {
			mine = append(mine, b)
		}
	}
	defer func() {
		clear(mine) // holds no client's batch until the next one
		scratch.mine = mine[:0]
	}()
	if len(mine) == 0 {
		return 0
	}
	c.idle.Touch() // output counts as activity for --idle-timeout
	msgs := 0
	if !c.writing && len(c.queue) == 0 {
		bufs := scratch.iovec[:0]
		for _, b := range mine {
			bufs = append(bufs, c.bytesOf(b))
		}
		n := c.out.TryWritev(bufs)
		clear(bufs)
		scratch.iovec = bufs[:0]
		for n > 0 && len(mine) > 0 {
			size := len(c.bytesOf(mine[0]))
			if n < size {
				// The socket took part of this batch; the Corker keeps
				// the rest, which the writer sends before the batches
				// after it.
				c.flush = true
				c.startWriterLocked()
				msgs += mine[0].msgs
				mine = mine[1:]
				break
			}
			n -= size
			msgs += mine[0].msgs
			mine = mine[1:]
		}
	}
	for _, b := range mine {
		if !c.queueLocked(b) {
			return msgs
		}
		msgs += b.msgs
	}
	return msgs
}

// queueLocked queues b, in the client's form, for the client's writer, or
// closes the client as too slow if its queue would exceed the limit.
func (c *Client) queueLocked(b *batch) bool {
	size := len(c.bytesOf(b))
	if c.queued+size > c.g.h.queueLimit {
		c.queue = nil
		c.closeCode, c.closeReason = StatusTooSlow, "too slow"
		c.dropLaterLocked()
		c.g.h.obs.SlowClosed()
		c.g.log.Warn("client too slow", "client", c.info.ID, "remote", c.info.Remote, "queue_bytes", c.g.h.queueLimit)
		c.startWriterLocked()
		return false
	}
	c.queue = append(c.queue, b)
	c.queued += size
	c.startWriterLocked()
	return true
}

// closeAfterQueued closes the client with code once what is queued has gone.
func (c *Client) closeAfterQueued(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.closeCode != 0 {
		return
	}
	c.closeCode, c.closeReason = code, reason
	c.startWriterLocked()
}

func (c *Client) startWriterLocked() {
	if c.writing || c.dead {
		return
	}
	c.writing = true
	c.g.wg.Add(1) // the client's reader is counted too, so never from 0
	go c.drain()
}

// drain writes everything queued, a whole queue per write, then the close
// frame if one is due, and ends when there is nothing left.
func (c *Client) drain() {
	defer c.g.wg.Done()
	var spare []*batch
	for {
		c.mu.Lock()
		if c.flush {
			c.flush = false
			c.mu.Unlock()
			if err := c.out.Flush(); err != nil {
				c.mu.Lock()
				c.dead, c.queue = true, nil
				c.mu.Unlock()
				c.conn.CloseNow()
			}
			continue
		}
		if len(c.queue) == 0 {
			if c.closeCode == 0 || c.closeSent || c.dead {
				c.writing = false
				c.queue = nil // an idle client keeps no slice
				c.mu.Unlock()
				return
			}
			c.closeSent = true
			code, reason := c.closeCode, c.closeReason
			c.mu.Unlock()
			c.conn.Close(code, reason)
			continue
		}
		q := c.queue
		c.queue = spare[:0]
		c.mu.Unlock()

		size, err := c.write(q)
		clear(q)
		spare = q
		c.mu.Lock()
		c.queued -= size
		if err != nil {
			c.dead = true
			c.queue = nil
		}
		c.mu.Unlock()
		if err != nil {
			c.conn.CloseNow()
		}
	}
}

// write sends q, corked into as few writes as the buffer allows.
func (c *Client) write(q []*batch) (int, error) {
	size := 0
	if len(q) == 1 {
		out := c.bytesOf(q[0])
		_, err := c.out.Write(out)
		return len(out), err
	}
	c.out.Cork()
	var err error
	for _, b := range q {
		out := c.bytesOf(b)
		size += len(out)
		if err == nil {
			_, err = c.out.Write(out)
		}
	}
	if uerr := c.out.Uncork(); err == nil {
		err = uerr
	}
	return size, err
}
