package session

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/process"
)

// Close codes wsbridge sends when the child ends. 4000-4999 is the range RFC
// 6455 leaves to applications; a browser reads the code from CloseEvent.code.
const (
	// StatusExitBase + N reports exit status N (1-255).
	StatusExitBase websocket.StatusCode = 4000
	// StatusTokenExpired: the token the client authenticated with (a JWT's
	// exp) has run out; the client renews it by connecting again with a
	// fresh one. 4401 echoes HTTP's 401, as 4400 and 4409 of the terminal
	// echo 400 and 409; exit statuses end at 4255.
	StatusTokenExpired websocket.StatusCode = 4401
)

// TokenExpiredReason is the close reason sent with StatusTokenExpired.
const TokenExpiredReason = "token expired"

// CloseForStatus maps how the child ended to the close frame the client gets.
func CloseForStatus(st process.Status) (websocket.StatusCode, string) {
	switch {
	case st.Signal != 0:
		return websocket.StatusInternalError, st.String()
	case st.Code == 0:
		return websocket.StatusNormalClosure, ""
	case st.Code > 0 && st.Code <= 255:
		return StatusExitBase + websocket.StatusCode(st.Code), st.String()
	default:
		return websocket.StatusInternalError, st.String()
	}
}

// EndOfSession is the close frame a session ends with: 1001 when the server
// is going away, otherwise what the child's exit says.
func EndOfSession(st process.Status, goingAway bool) (websocket.StatusCode, string) {
	if goingAway {
		return websocket.StatusGoingAway, "server shutting down"
	}
	return CloseForStatus(st)
}

// SpawnFailureClose is the close frame for a program that could not start
// after the upgrade: 1013 (try again later) when the server ran out of file
// descriptors, which passes as sessions end; 1011 for anything else. The
// gate refuses with 503 before the upgrade when descriptors run short, so
// the first is left to a race.
func SpawnFailureClose(err error) (websocket.StatusCode, string) {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return websocket.StatusTryAgainLater, "server busy: out of file descriptors; try again later"
	}
	return websocket.StatusInternalError, CloseReason("%v", err)
}

// CloseReason trims a reason to what fits a close frame (123 bytes).
func CloseReason(format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if len(s) > 123 {
		s = s[:frame.RuneCut([]byte(s), 123)]
	}
	return s
}

// ClientCloseText describes how the client side ended, for the access log.
func ClientCloseText(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return "close " + strconv.Itoa(int(code))
	}
	return err.Error()
}
