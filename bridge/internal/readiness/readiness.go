// Package readiness tells a session when a seldom-ready stream of its child
// (stderr, a stdout that has gone quiet) has something to read, so that an
// idle session need not park a goroutine on each such stream. How it waits
// depends on the platform: one epoll set on Linux (epoll_linux.go), a
// goroutine per waiting stream elsewhere (poll_unix.go), and nothing on
// Windows, where callers wait on a goroutine of their own
// (readiness_windows.go).
package readiness

import "os"

// OnReadable runs fn on a goroutine of its own once f (a non-blocking stream)
// has data to read, has ended or has failed. It fires once; call it again
// for the next time. Until it fires, CancelReadable withdraws it; f must not
// be closed while it is registered. An error means no registration was
// made: the caller waits on f itself.
func OnReadable(f *os.File, fn func()) error {
	return watcher.add(f, fn)
}

// CancelReadable withdraws f's registration and reports whether there was
// one: exactly one of a registration's fn running and CancelReadable
// returning true happens.
func CancelReadable(f *os.File) bool {
	return watcher.cancel(f)
}
