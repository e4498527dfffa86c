package bridge

import (
	"fmt"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/process"
)

// Close codes wsbridge sends when the child ends. 4000-4999 is the range RFC
// 6455 leaves to applications; a browser reads the code from CloseEvent.code.
const (
	// StatusExitBase + N reports exit status N (1-255).
	StatusExitBase websocket.StatusCode = 4000
)

// closeForStatus maps how the child ended to the close frame the client gets.
func closeForStatus(st process.Status) (websocket.StatusCode, string) {
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

// endOfSession is the close frame a session ends with: 1001 when the server
// is going away, otherwise what the child's exit says.
func endOfSession(st process.Status, goingAway bool) (websocket.StatusCode, string) {
	if goingAway {
		return websocket.StatusGoingAway, "server shutting down"
	}
	return closeForStatus(st)
}

// closeReason trims a reason to what fits a close frame (123 bytes).
func closeReason(format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if len(s) > 123 {
		s = s[:runeCut([]byte(s), 123)]
	}
	return s
}
