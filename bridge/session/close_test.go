package session_test

import (
	"fmt"
	"syscall"
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

func TestSpawnFailureClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		code websocket.StatusCode
	}{
		// Out of descriptors passes: try again later.
		{fmt.Errorf("spawn /bin/cat: %w", syscall.EMFILE), websocket.StatusTryAgainLater},
		{fmt.Errorf("spawn /bin/cat: %w", syscall.ENFILE), websocket.StatusTryAgainLater},
		{fmt.Errorf("spawn /bin/cat: %w", syscall.ENOENT), websocket.StatusInternalError},
	}
	for _, tt := range tests {
		code, reason := session.SpawnFailureClose(tt.err)
		if code != tt.code || reason == "" || len(reason) > 123 {
			t.Errorf("%v: %d %q, want %d with a reason", tt.err, code, reason, tt.code)
		}
	}
}
