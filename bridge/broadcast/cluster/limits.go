package cluster

import (
	"context"
	"time"
)

// What a group may hold in Redis is bounded three ways: each stream in
// bytes and entries (the scripts' trim, --redis-stream-bytes), in time
// (every key expires --redis-history-ttl after the group's last activity),
// and in number: the cluster counts its groups (--max-groups) in one sorted
// set, so that N instances do not keep N times the groups in one Redis.

// groupsKey is the sorted set counting the cluster's groups. It has no
// hash tag: it is never in a script with a group's keys.
func (e *Engine) groupsKey() string { return e.opts.Prefix + ":groups" }

// AdmitGroup counts key's group in the cluster for --max-groups before a
// client opens it here. A group counted already (open on another
// instance, or whose keys are still in Redis) is admitted; a new one only
// under the limit, otherwise ok is false and retry says when the first
// counted group expires. An error (Redis does not answer) is for the
// caller to admit the group anyway: while Redis is away nothing is written
// to it, and the instance's own count still bounds what it opens.
func (e *Engine) AdmitGroup(ctx context.Context, key string) (ok bool, retry time.Duration, err error) {
	if e.opts.MaxGroups <= 0 {
		return true, 0, nil
	}
	ms, err := admitGroupScript.Run(ctx, e.rdb, []string{e.groupsKey()}, key, e.opts.MaxGroups, e.opts.HistoryTTL.Milliseconds()).Int64()
	if err != nil {
		return false, 0, err
	}
	return ms == 0, time.Duration(ms) * time.Millisecond, nil
}

// keepCounted keeps the group in the cluster's count while this instance
// owns it, renewing it a quarter of --redis-history-ttl at a time (its keys
// are touched by every write; the count needs far less). Called by the
// lease loop only.
func (g *Group) keepCounted(ctx context.Context, o *ownership) {
	if g.e.opts.MaxGroups <= 0 || (!o.countedAt.IsZero() && time.Since(o.countedAt) < g.e.opts.HistoryTTL/4) {
		return
	}
	if err := touchGroupScript.Run(ctx, g.e.rdb, []string{g.e.groupsKey()}, g.key, g.e.opts.HistoryTTL.Milliseconds()).Err(); err != nil {
		g.log.Debug("counting the group", "err", err)
		return
	}
	o.countedAt = time.Now()
}

// inputTrimmed counts input trimmed before an owner consumed it, and logs
// it at most every inputTrimLog: clients keep sending while the program
// does not read.
func (g *Group) inputTrimmed(entries, bytes int64) {
	if entries == 0 {
		return
	}
	g.e.obs.Trimmed("in", entries, bytes)
	g.mu.Lock()
	due := time.Since(g.trimLogged) >= inputTrimLog
	if due {
		g.trimLogged = time.Now()
	}
	g.mu.Unlock()
	if due {
		g.log.Warn("input dropped: no owner consumed it within --redis-stream-bytes", "messages", entries, "bytes", bytes)
	}
}

const inputTrimLog = 10 * time.Second
