package cluster

import (
	"context"
	"slices"
)

// A client of the subprotocol wsbridge.broadcast.v1 that reconnects with
// the offset and epoch of the last message it got resumes from the group's
// output stream: the stream is the group's history, its entries carry the
// offsets the owner gave them, and every instance reads the same.

// Seeder is a Handler that wants to know where the reader starts: the
// epoch and offset of the newest entry when the group opened here (""
// and 0 for an empty stream). Seeded is called once, before the first
// Deliver, from the reader's goroutine.
type Seeder interface {
	Seeded(epoch string, offset uint64)
}

// Ready is closed once the reader knows where it starts (Seeded was
// called, and the replay delivered).
func (g *Group) Ready() <-chan struct{} { return g.seeded }

// OwnerEpoch is the epoch the owner writes its output under; "" unless
// this instance holds the lease. A program started by Handler.Start is
// told it, so that what it numbers can be told apart from an earlier
// history's.
func (g *Group) OwnerEpoch() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.owner == nil {
		return ""
	}
	return g.owner.epoch
}

// historyPage is how many entries one read of the history asks for.
const historyPage = 256

// History reads the messages the stream holds after offset since of
// epoch, oldest first. ok is false when it does not hold them all (they
// were trimmed, or the history is another epoch's) or when they hold more
// than maxBytes of data: the client is then reset rather than resumed.
// newest is the offset of the stream's newest entry of epoch.
func (g *Group) History(ctx context.Context, epoch string, since uint64, maxBytes int) (ms []Message, newest uint64, ok bool, err error) {
	end := "+"
	size := 0
	first := true
	for {
		ents, err := g.e.rdb.XRevRangeN(ctx, g.k.out, end, "-", historyPage).Result()
		if err != nil {
			return nil, 0, false, err
		}
		for _, ent := range ents {
			m, e, off, err := entry(ent)
			if err != nil {
				continue
			}
			if e != epoch {
				// A newer history (Redis lost the old one) or, below the
				// client's offset, an older one that ends it: either way
				// not what the client saw.
				return nil, 0, false, nil
			}
			if first {
				newest, first = off, false
			}
			if off <= since {
				slices.Reverse(ms)
				return ms, newest, true, nil
			}
			size += len(m.Data) + 32
			if size > maxBytes {
				return nil, 0, false, nil
			}
			m.Offset, m.Epoch = off, e
			ms = append(ms, m)
		}
		if len(ents) < historyPage {
			break
		}
		end = "(" + ents[len(ents)-1].ID
	}
	// The stream's start: whole only if its oldest entry follows since.
	if len(ms) == 0 || ms[len(ms)-1].Offset != since+1 {
		return nil, 0, false, nil
	}
	slices.Reverse(ms)
	return ms, newest, true, nil
}
