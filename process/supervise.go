package process

import "time"

// The waits of the kill sequence, before Config.Grace is added: websocketd's,
// so programs written for it get the same time to clean up. Windows, which
// has no SIGTERM, gives Ctrl-Break the two waits together.
const (
	waitAfterStdin   = 100 * time.Millisecond
	waitAfterSIGINT  = 250 * time.Millisecond
	waitAfterSIGTERM = 500 * time.Millisecond
	// After SIGKILL the leader dies for certain; members that left the group's
	// reach (a setsid daemon) are not ours to wait for past this.
	waitAfterSIGKILL = 2 * time.Second
	groupPoll        = 10 * time.Millisecond
)

// superviseGroup ends the child's process group. It starts when the child
// exits or Stop is called, waits for the child to exit or for Stop, then
// makes sure nothing of the process group survives: a session owns its
// group, so background jobs the child left behind are ended with the same
// sequence as the child itself.
func (p *Process) superviseGroup() {
	defer close(p.done)
	p.waitGone(time.Time{}, true)
	for _, step := range p.killSteps() {
		if p.gone() {
			break
		}
		step.act()
		p.waitGone(time.Now().Add(step.wait+p.grace), false)
	}
	if !p.status.reaped {
		// Only a leader stuck in uninterruptible sleep gets here; reaping it
		// is the one wait we cannot skip without leaving a zombie.
		p.waitLeader(time.Time{}, false)
	}
	p.ended()
}

// killStep is one step of the kill sequence: what to do, and how long to
// give the group to end after it (before Config.Grace is added).
type killStep struct {
	act  func()
	wait time.Duration
}

// waitGone waits until the leader is reaped and its group is empty, until the
// deadline (zero: none), or, with untilStop, until Stop is called.
func (p *Process) waitGone(deadline time.Time, untilStop bool) {
	if !p.waitLeader(deadline, untilStop) {
		return
	}
	if untilStop {
		// The leader ended by itself: the group gets the kill sequence only
		// if something of it is left.
		return
	}
	for p.groupAlive() {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return
		}
		time.Sleep(groupPoll)
	}
}

// waitLeader waits for the child watcher to reap the leader. It reports
// whether it has been reaped; false means the deadline passed or Stop was
// called.
func (p *Process) waitLeader(deadline time.Time, untilStop bool) bool {
	if p.status.reaped {
		return true
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	var stop <-chan struct{}
	if untilStop {
		stop = p.stopCh
	}
	select {
	case <-p.reaped:
		p.status = p.exitStatus
		return true
	case <-stop:
	case <-timeout:
	}
	return false
}

func (p *Process) gone() bool {
	return p.status.reaped && !p.groupAlive()
}
