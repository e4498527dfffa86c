package broadcast

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/internal/frame"
)

// Subprotocol is the WebSocket subprotocol of clients that get each
// output message with its place in the group's history, and may resume
// after it (static/PROTOCOL.md, "Resuming broadcast clients"):
//
//	{"offset":N,"epoch":"E","data":"…"}        a message (--binary: base64, "encoding":"base64")
//	{"offset":N,"epoch":"E","event":"owner","program":"P"}  the group's program (re)started
//	{"event":"reset","epoch":"E"}              the history asked for is gone: the --replay follows
//
// Offsets rise by one for each output message of the group (to every
// client or addressed, and each owner event), so a client sees gaps where
// a message was for others. The epoch names the offsets' history: on one
// machine the group's lifetime here, with --redis the group's stream (a new
// one after --redis-history-ttl without activity, or when Redis lost it).
const Subprotocol = "wsbridge.broadcast.v1"

// On one machine the resume history is the group's ring: from the first
// client of the subprotocol on, it keeps up to resumeKeep messages (and at
// least --replay) within half of --client-queue bytes: a resume that did
// not fit a client's queue beside live output would close it as too slow.
const resumeKeep = 1024

func (h *Hub) resumeBytes() int { return h.queueLimit / 2 }

// Resume is where a client of the subprotocol resumes: after offset Since
// of Epoch (?since=N&epoch=E).
type Resume struct {
	Since uint64
	Epoch string
}

// maxEpoch bounds the epoch a client sends: ours are a dozen hex digits.
const maxEpoch = 64

// ParseResume reads ?since=N&epoch=E; nil without since. A malformed one
// is an error, for a 400 before the upgrade.
func ParseResume(q url.Values) (*Resume, error) {
	s, e := q.Get("since"), q.Get("epoch")
	if s == "" && e == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, errors.New("?since= wants the offset of the last message received, a number")
	}
	if e == "" || len(e) > maxEpoch {
		return nil, errors.New("?since= goes with ?epoch=, the epoch of the last message received")
	}
	return &Resume{Since: n, Epoch: e}, nil
}

// newID is a random hex name: an epoch, a program's ID.
func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// v1Builder frames messages in the subprotocol's form.
type v1Builder struct {
	binary  bool
	scratch []byte
}

func (v *v1Builder) head(off uint64, epoch string) {
	v.scratch = append(v.scratch[:0], `{"offset":`...)
	v.scratch = strconv.AppendUint(v.scratch, off, 10)
	v.scratch = append(v.scratch, `,"epoch":"`...)
	v.scratch = frame.AppendJSONText(v.scratch, []byte(epoch))
	v.scratch = append(v.scratch, '"')
}

// data appends the frame of one message. Text is valid UTF-8 already
// (decode); binary goes as base64, which JSON carries.
func (v *v1Builder) data(dst []byte, off uint64, epoch string, payload []byte) []byte {
	v.head(off, epoch)
	if v.binary {
		v.scratch = append(v.scratch, `,"encoding":"base64","data":"`...)
		v.scratch = base64.StdEncoding.AppendEncode(v.scratch, payload)
	} else {
		v.scratch = append(v.scratch, `,"data":"`...)
		v.scratch = frame.AppendJSONText(v.scratch, payload)
	}
	v.scratch = append(v.scratch, `"}`...)
	return v.frame(dst)
}

// owner appends the frame of an owner event: program P started.
func (v *v1Builder) owner(dst []byte, off uint64, epoch, program string) []byte {
	v.head(off, epoch)
	v.scratch = append(v.scratch, `,"event":"owner","program":"`...)
	v.scratch = frame.AppendJSONText(v.scratch, []byte(program))
	v.scratch = append(v.scratch, `"}`...)
	return v.frame(dst)
}

// reset appends the frame of a reset event.
func (v *v1Builder) reset(dst []byte, epoch string) []byte {
	v.scratch = append(v.scratch[:0], `{"event":"reset","epoch":"`...)
	v.scratch = frame.AppendJSONText(v.scratch, []byte(epoch))
	v.scratch = append(v.scratch, `"}`...)
	return v.frame(dst)
}

func (v *v1Builder) frame(dst []byte) []byte {
	dst = appendFrame(dst, opText, v.scratch)
	if cap(v.scratch) > maxKeptMsg {
		v.scratch = nil
	}
	return dst
}

// v1Of builds the v1 form of kept entries, as one batch.
func (v *v1Builder) entries(dst *batch, ents []ringEntry, epoch string) {
	for _, e := range ents {
		dst.buf = v.data(dst.buf, e.off, epoch, framePayload(e.frame))
		dst.msgs++
	}
}

// attachV1Locked is what a client of the subprotocol gets first, with
// g.mu held: the messages after its offset when it resumes and they are
// at hand, a reset event and the replay when they are gone, or (with
// --redis, from a history this instance has not kept) nothing yet: the
// stream is read for them (fetchHistory) while live output is held back.
func (g *group) attachV1Locked(c *Client) *batch {
	g.v1Clients++
	if !g.v1Ever.Swap(true) {
		g.ring.grow(max(resumeKeep, g.h.opts.Replay), g.h.resumeBytes())
	}
	v := v1Builder{binary: g.h.opts.Binary}
	r := c.resume
	known := g.cg == nil || g.positioned
	switch {
	case r == nil:
		return g.replayV1Locked(&v, nil)
	case known && r.Epoch == g.epoch && r.Since >= g.offset && g.cg != nil:
		// This instance has not delivered all the client saw (it came
		// from one further on): what is left to it comes live.
		c.skip = r.Since
		return nil
	case known && r.Epoch == g.epoch && r.Since <= g.offset:
		if ents, ok := g.ring.since(r.Since); ok {
			b := &batch{}
			v.entries(b, ents, g.epoch)
			if b.msgs == 0 {
				return nil
			}
			return b
		}
	}
	if g.cg == nil || (known && g.epoch != "" && r.Epoch != g.epoch) {
		return g.replayV1Locked(&v, v.reset(nil, g.epoch))
	}
	c.hold = true
	g.wg.Add(1) // the client's reader is counted: never from 0
	go g.fetchHistory(c)
	return nil
}

// replayV1Locked is the --replay in the subprotocol's form, after first
// (a reset event) if any.
func (g *group) replayV1Locked(v *v1Builder, first []byte) *batch {
	b := &batch{buf: first}
	if first != nil {
		b.msgs = 1
	}
	v.entries(b, g.ring.last(g.h.opts.Replay), g.epoch)
	if b.msgs == 0 {
		return nil
	}
	return b
}

// historyReads bounds the reads of a resume's history that the live
// output overtakes before the client is reset instead.
const historyReads = 3

// fetchHistory finds, with --redis, the messages a resuming client missed
// in the group's stream, and hands them to it ahead of the live output
// (which it was not given meanwhile): the messages after its offset up to
// the last one delivered here; the live ones that follow come next. If
// they are gone the client gets a reset event and the replay.
func (g *group) fetchHistory(c *Client) {
	defer g.wg.Done()
	select {
	case <-g.cg.Ready():
	case <-g.stopCh:
		c.unhold(nil)
		return
	}
	r := c.resume
	v := v1Builder{binary: g.h.opts.Binary}
	for range historyReads {
		ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
		ms, newest, ok, err := g.cg.History(ctx, r.Epoch, r.Since, g.h.resumeBytes())
		cancel()
		if err != nil {
			g.log.Warn("reading a resuming client's history", "client", c.info.ID, "err", err)
			break
		}
		g.mu.Lock()
		if !ok || (g.epoch != "" && g.epoch != r.Epoch) {
			g.mu.Unlock()
			break
		}
		if newest < g.offset {
			g.mu.Unlock() // delivered here since the read began: read again
			continue
		}
		b := &batch{}
		for _, m := range ms {
			if m.Offset > g.offset {
				break // it comes live
			}
			switch m.Kind {
			case cluster.ToAll:
				b.buf = v.data(b.buf, m.Offset, m.Epoch, m.Data)
				b.msgs++
			case cluster.Owner:
				b.buf = v.owner(b.buf, m.Offset, m.Epoch, string(m.Data))
				b.msgs++
			}
		}
		c.setSkip(max(r.Since, g.offset))
		if b.msgs == 0 {
			b = nil
		}
		c.unhold(b)
		g.mu.Unlock()
		return
	}
	g.mu.Lock()
	c.setSkip(g.offset)
	c.unhold(g.replayV1Locked(&v, v.reset(nil, g.epoch)))
	g.mu.Unlock()
}

// historyTimeout bounds one read of a resume's history.
const historyTimeout = 5 * time.Second
