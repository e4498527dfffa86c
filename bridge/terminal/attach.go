package terminal

// This file attaches clients to a terminal process and detaches them: the
// replay at attach, the reconnect window, and the size taken from the clients.

import (
	"context"
	"time"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

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
