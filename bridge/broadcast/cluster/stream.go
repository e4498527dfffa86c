package cluster

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// readPos is where the reader is in the output stream: the last entry
// delivered, and the epoch and offset it carried.
type readPos struct {
	id     string
	epoch  string
	offset uint64
}

// blockFor is how long one blocking read waits: a read that has not
// answered by then plus the client's timeout is taken for dead.
func (g *Group) blockFor() time.Duration { return min(g.interval(), 2*time.Second) }

// readLoop reads the output stream from the last entry delivered, for
// ever, and hands what it reads to the handler; after an error it
// reconnects and goes on from the same entry.
func (g *Group) readLoop() {
	defer g.wg.Done()
	var pos readPos
	rc := g.newReader(false)
	defer func() { rc.Close() }()
	var wait retry
	seeded := false
	for g.ctx.Err() == nil {
		if !seeded {
			if err := g.seed(&pos); err != nil {
				g.log.Warn("reading the group's history", "err", err)
				if !wait.sleep(g.ctx) {
					return
				}
				continue
			}
			seeded = true
			g.setLastID(pos.id)
			close(g.seeded)
		}
		if g.takeReset() {
			pos.id = "0-0"
		}
		res, err := rc.XRead(g.ctx, &redis.XReadArgs{Streams: []string{g.k.out, pos.id}, Count: 512, Block: g.blockFor()}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			wait.reset()
			continue
		case err != nil:
			if g.ctx.Err() != nil {
				return
			}
			g.e.obs.Reconnected()
			g.log.Warn("output stream read failed; reconnecting", "err", err, "after", pos.id)
			rc.Close()
			if !wait.sleep(g.ctx) {
				return
			}
			rc = g.newReader(true)
			continue
		}
		wait.reset()
		for _, s := range res {
			if ms := g.decode(s.Messages, &pos); len(ms) > 0 {
				g.noteEnd(ms)
				g.h.Deliver(ms)
			}
		}
		g.setLastID(pos.id)
	}
}

func (g *Group) newReader(failed bool) redis.UniversalClient {
	rc := g.e.streamClient(g.k.out, failed)
	g.readMu.Lock()
	g.reader = rc
	g.readMu.Unlock()
	return rc
}

func (g *Group) setLastID(id string) {
	g.readMu.Lock()
	g.lastID = id
	g.readSeeded = true
	g.readMu.Unlock()
}

func (g *Group) takeReset() bool {
	g.readMu.Lock()
	defer g.readMu.Unlock()
	r := g.resetRead
	g.resetRead = false
	return r
}

// seed finds where reading starts (after the newest entry) and delivers
// the last --replay messages that went to every client, as the replay.
func (g *Group) seed(pos *readPos) error {
	ctx, cancel := context.WithTimeout(g.ctx, 2*g.interval())
	defer cancel()
	want := g.e.opts.Replay
	page := int64(max(want, 1))
	var replay []Message
	end := "+"
	first := true
	for {
		ents, err := g.e.rdb.XRevRangeN(ctx, g.k.out, end, "-", page).Result()
		if err != nil {
			return err
		}
		for _, ent := range ents {
			m, epoch, off, err := entry(ent)
			if err != nil {
				continue
			}
			if first {
				*pos = readPos{id: ent.ID, epoch: epoch, offset: off}
				first = false
			}
			if len(replay) < want && m.Kind == ToAll {
				m.Offset, m.Epoch = off, epoch
				replay = append(replay, m)
			}
		}
		if first {
			*pos = readPos{id: "0-0"}
			first = false
		}
		if len(replay) >= want || int64(len(ents)) < page {
			break
		}
		end = "(" + ents[len(ents)-1].ID
	}
	slices.Reverse(replay)
	if s, ok := g.h.(Seeder); ok {
		s.Seeded(pos.epoch, pos.offset)
	}
	if len(replay) > 0 {
		g.h.Deliver(replay)
	}
	return nil
}

// entry decodes one output stream entry.
func entry(ent redis.XMessage) (Message, string, uint64, error) {
	enc, _ := ent.Values["m"].(string)
	epoch, _ := ent.Values["e"].(string)
	o, _ := ent.Values["o"].(string)
	off, err := strconv.ParseUint(o, 10, 64)
	if err != nil {
		return Message{}, "", 0, errBadEntry
	}
	m, err := decodeMessage(enc)
	return m, epoch, off, err
}

// decode turns entries into messages, skipping any delivered already (an
// owner's retried append) and counting any missed: offsets that jump, or
// a new epoch (the history was lost with Redis).
func (g *Group) decode(ents []redis.XMessage, pos *readPos) []Message {
	ms := make([]Message, 0, len(ents))
	var lost int64
	unknown := false
	for _, ent := range ents {
		pos.id = ent.ID
		m, epoch, off, err := entry(ent)
		if err != nil {
			g.log.Error("malformed output stream entry", "id", ent.ID)
			continue
		}
		switch {
		case epoch == pos.epoch && off <= pos.offset:
			continue
		case epoch == pos.epoch && pos.offset > 0 && off > pos.offset+1:
			lost += int64(off - pos.offset - 1)
		case epoch != pos.epoch && pos.epoch != "":
			unknown = true
			g.log.Warn("the group's output history was lost (Redis lost its data); going on with the new one", "old_epoch", pos.epoch, "new_epoch", epoch)
		}
		pos.epoch, pos.offset = epoch, off
		m.Offset, m.Epoch = off, epoch
		ms = append(ms, m)
	}
	if len(ents) > 0 {
		if t, ok := idTime(ents[len(ents)-1].ID); ok {
			g.e.obs.StreamLag(time.Since(t))
		}
	}
	if lost > 0 {
		g.e.obs.Dropped("stream", lost)
		g.log.Warn("output messages missed: trimmed from the stream or never written", "messages", lost)
	}
	if (lost > 0 || unknown) && g.e.opts.Envelope {
		if unknown {
			lost = -1
		}
		g.sendNow(Input{Kind: Gap, Lost: lost, Instance: g.e.id})
	}
	return ms
}

// idTime is the time in a stream entry ID.
func idTime(id string) (time.Time, bool) {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// compareIDs orders two stream entry IDs.
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ai, _ := strconv.ParseUint(am, 10, 64)
	bi, _ := strconv.ParseUint(bm, 10, 64)
	if ai != bi {
		if ai < bi {
			return -1
		}
		return 1
	}
	ai, _ = strconv.ParseUint(as, 10, 64)
	bi, _ = strconv.ParseUint(bs, 10, 64)
	switch {
	case ai < bi:
		return -1
	case ai > bi:
		return 1
	}
	return 0
}

// probe checks the blocking read against the stream: a stream ahead of
// what was delivered, twice in a row with no progress, means the read died
// silently (commands still work), and it is reconnected; a stream behind
// it was made again (Redis restarted empty), and reading starts over.
func (g *Group) probe(ctx context.Context) {
	g.readMu.Lock()
	seeded, mine := g.readSeeded, g.lastID
	g.readMu.Unlock()
	if !seeded {
		return
	}
	ents, err := g.e.rdb.XRevRangeN(ctx, g.k.out, "+", "-", 1).Result()
	if err != nil || len(ents) == 0 {
		return
	}
	newest := ents[0].ID
	g.readMu.Lock()
	defer g.readMu.Unlock()
	switch c := compareIDs(newest, mine); {
	case c > 0 && g.stuckAt == mine:
		g.log.Warn("output stream read stopped delivering; reconnecting", "delivered", mine, "newest", newest)
		g.e.obs.Reconnected()
		g.stuckAt = ""
		g.reader.Close()
	case c > 0:
		g.stuckAt = mine
	case c < 0:
		g.log.Warn("output stream is behind what was delivered: it was made again; reading it from the start", "delivered", mine, "newest", newest)
		g.resetRead = true
		g.stuckAt = ""
		g.reader.Close()
	default:
		g.stuckAt = ""
	}
}

// noteEnd: once the program's end is read, this instance bids for the
// group no more, owner or not (the owner knows already): a client still
// arriving belongs to a new group.
func (g *Group) noteEnd(ms []Message) {
	for _, m := range ms {
		if m.Kind == End {
			g.mu.Lock()
			g.ended = true
			g.mu.Unlock()
			return
		}
	}
}
