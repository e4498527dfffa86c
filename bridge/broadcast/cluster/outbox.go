package cluster

import (
	"context"
	"sync"
	"time"
)

// outbox holds what waits to be written to Redis, in order, bounded in
// bytes. Past the bound, while Redis answers, push waits (the writer is
// slowed to Redis's pace, as a pipe slows a program); while Redis does not,
// the oldest entries are dropped and counted. One
// goroutine (run) writes it out in batches, retrying with backoff while
// Redis is away; a batch being written is out of the queue (so the bound
// is the limit plus one batch).
type outbox[T any] struct {
	limit int
	size  func(*T) int
	obs   Observer

	mu       sync.Mutex
	items    []T
	bytes    int
	inflight int  // entries being written
	failing  bool // the last write failed: Redis is away
	closed   bool // run has ended: push never waits
	room     sync.Cond
	wake     chan struct{}
}

const (
	batchItems = 512
	batchBytes = 1 << 20
)

func newOutbox[T any](limit int, size func(*T) int, obs Observer) *outbox[T] {
	o := &outbox[T]{limit: limit, size: size, obs: obs, wake: make(chan struct{}, 1)}
	o.room.L = &o.mu
	return o
}

// setFailing records whether Redis answers, waking pushes that wait.
func (o *outbox[T]) setFailing(f bool) {
	o.mu.Lock()
	if o.failing != f {
		o.failing = f
		o.room.Broadcast()
	}
	o.mu.Unlock()
}

// push queues v, dropping the oldest entries while over the limit (never v
// itself, so one message larger than the limit still goes).
func (o *outbox[T]) push(v T) { o.pushCounted(v) }

// pushCounted is push answering how many entries it dropped.
func (o *outbox[T]) pushCounted(v T) int64 { return o.pushStamped(v, nil, true) }

// pushStamped queues v as push does, calling stamp (if not nil) on it
// just before it joins the queue. Without wait it never waits for room:
// past the limit, the oldest entries are dropped only while Redis is away,
// and otherwise v is queued over the limit.
func (o *outbox[T]) pushStamped(v T, stamp func(*T), wait bool) int64 {
	n := o.size(&v)
	o.mu.Lock()
	for wait && o.bytes > 0 && o.bytes+n > o.limit && !o.failing && !o.closed {
		o.room.Wait()
	}
	if stamp != nil {
		stamp(&v)
	}
	o.items = append(o.items, v)
	o.bytes += n
	delta := n
	var dropped int64
	for o.bytes > o.limit && len(o.items) > 1 && (wait || o.failing || o.closed) {
		d := o.size(&o.items[0])
		var zero T
		o.items[0] = zero
		o.items = o.items[1:]
		o.bytes -= d
		delta -= d
		dropped++
	}
	o.mu.Unlock()
	o.obs.Buffered(delta)
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return dropped
}

// pending is how many entries wait or are being written.
func (o *outbox[T]) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items) + o.inflight
}

// clear drops everything queued, uncounted (the writer lost the right to
// write it).
func (o *outbox[T]) clear() {
	o.mu.Lock()
	n := o.bytes
	o.items, o.bytes = nil, 0
	o.room.Broadcast()
	o.mu.Unlock()
	o.obs.Buffered(-n)
}

func (o *outbox[T]) take() []T {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, size := 0, 0
	for n < len(o.items) && n < batchItems && (n == 0 || size < batchBytes) {
		size += o.size(&o.items[n])
		n++
	}
	batch := make([]T, n)
	copy(batch, o.items)
	clear(o.items[:n])
	o.items = o.items[n:]
	if len(o.items) == 0 {
		o.items = nil
	}
	o.bytes -= size
	o.inflight = n
	o.obs.Buffered(-size)
	if n > 0 {
		o.room.Broadcast()
	}
	return batch
}

// run writes batches with write until ctx ends. write returns an error to
// be retried (Redis away) or, with retry false, a verdict: the batch is
// done with either way.
func (o *outbox[T]) run(ctx context.Context, write func(context.Context, []T) (retry bool, err error), onErr func(error)) {
	defer func() {
		o.mu.Lock()
		o.closed = true
		o.room.Broadcast()
		o.mu.Unlock()
	}()
	var wait retry
	for {
		batch := o.take()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				continue
			}
		}
		for {
			again, err := write(ctx, batch)
			if err == nil || !again {
				wait.reset()
				o.mu.Lock()
				o.inflight = 0
				o.mu.Unlock()
				o.setFailing(false)
				break
			}
			o.setFailing(true)
			onErr(err)
			if !wait.sleep(ctx) {
				return
			}
		}
	}
}

// retry is the wait before the next try while Redis does not answer:
// retryMin, doubling each time up to retryMax, until reset. The zero
// value is ready.
type retry struct{ next time.Duration }

const (
	retryMin = 50 * time.Millisecond
	retryMax = time.Second
)

// sleep waits the next wait and doubles it; false if ctx ended first.
func (r *retry) sleep(ctx context.Context) bool {
	d := max(r.next, retryMin)
	r.next = min(2*d, retryMax)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reset makes the next wait retryMin again: Redis answered.
func (r *retry) reset() { r.next = 0 }
