//go:build (unix && !linux) || (linux && portable)

package process

// reapLocked reaps every exited child of ours; w.mu is held, so no pid is
// reaped twice. Without Linux's waitid(P_ALL, WNOWAIT), which names the
// child that exited, each SIGCHLD asks every child of ours with
// wait4(WNOHANG): a cost per signal that grows with the sessions, which is
// fine for the machines that run this (a developer's Mac, a BSD server with
// a few hundred sessions).
func (w *watcher) reapLocked() {
	for _, p := range w.kids {
		w.tryReap(p)
	}
}
