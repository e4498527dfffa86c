package bridge

import (
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/session"
)

type nopObserver struct{}

func (nopObserver) SessionStarted()                                                              {}
func (nopObserver) SessionEnded(websocket.StatusCode, time.Duration, int64, int64, int64, int64) {}
func (nopObserver) Refused(string)                                                               {}
func (nopObserver) SpawnFailed()                                                                 {}
func (nopObserver) MessageDropped(string)                                                        {}

// Refused counts a request refused in front of the Handler (origin, auth).
func (h *Handler) Refused(reason string) { h.observer().Refused(reason) }

func (h *Handler) observer() session.Observer {
	if h.opts.Observer != nil {
		return h.opts.Observer
	}
	return nopObserver{}
}
