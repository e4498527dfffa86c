package bridge

import (
	"context"
	"net/http"
	"time"

	"github.com/wsbridge/wsbridge/bridge/internal/frameguard"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// A session does not outlive the credentials it was admitted with: a JWT
// carries its expiry, and authentication in front of the Handler passes it
// on with WithDeadline. The gate enforces it for every kind in one place,
// the connection it hands the kind: at the deadline the connection's reads
// fail with a *frameguard.Violation of code 4401, which each kind already
// answers as a client's protocol error (a pipe lets its program's kill
// sequence run first, a terminal client leaves, a broadcast client alone is
// closed). One timer per connection, stopped when the connection closes; no
// goroutine waits for it.

type deadlineKey struct{}

// WithDeadline returns r carrying a time its session may not outlive. Of
// several, the earliest holds.
func WithDeadline(r *http.Request, t time.Time) *http.Request {
	if old, ok := Deadline(r); ok && !t.Before(old) {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), deadlineKey{}, t))
}

// Deadline is the time WithDeadline set on r, if any.
func Deadline(r *http.Request) (time.Time, bool) {
	t, ok := r.Context().Value(deadlineKey{}).(time.Time)
	return t, ok
}

// errTokenExpired is what an expired connection's reads return: the kinds
// find the *frameguard.Violation in it, and the disconnect's log line says
// "token expired" rather than "protocol error".
var errTokenExpired error = tokenExpired{&frameguard.Violation{Code: session.StatusTokenExpired, Reason: session.TokenExpiredReason}}

type tokenExpired struct{ v *frameguard.Violation }

func (e tokenExpired) Error() string { return session.TokenExpiredReason }
func (e tokenExpired) Unwrap() error { return e.v }

// armDeadline makes gc expire at r's deadline, if it has one, logging to c's
// logger when it does.
func armDeadline(gc *guardedConn, c *session.Conn) {
	if gc == nil {
		return
	}
	t, ok := Deadline(c.Request)
	if !ok {
		return
	}
	remote, path, log := c.Request.RemoteAddr, c.Request.URL.Path, c.Log
	gc.timer = time.AfterFunc(time.Until(t), func() {
		log.Log(context.Background(), session.LevelAccess, "token expired: closing the session", "remote", remote, "path", path, "code", int(session.StatusTokenExpired))
		gc.expire()
	})
}
