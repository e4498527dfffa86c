package cluster

// Abandon cuts the engine off Redis for its commands, as a partition
// would: its lease expires unrenewed.
func (e *Engine) Abandon() { e.rdb.Close() }
