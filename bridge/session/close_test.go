package session_test

import (
	"testing"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

func TestCloseForStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		st     process.Status
		code   websocket.StatusCode
		reason string
	}{
		{process.Status{Code: 0}, 1000, ""},
		{process.Status{Code: 1}, 4001, "exit status 1"},
		{process.Status{Code: 255}, 4255, "exit status 255"},
		{process.Status{Code: -1, Signal: 9}, 1011, "killed by signal KILL"},
		{process.Status{Code: -1}, 1011, "exit status unknown"},
	}
	for _, tt := range tests {
		code, reason := session.CloseForStatus(tt.st)
		if code != tt.code || reason != tt.reason {
			t.Errorf("%+v: %d %q, want %d %q", tt.st, code, reason, tt.code, tt.reason)
		}
	}
}
