package server

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReloaderRunsEveryPart(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	r := newReloader(slog.New(slog.NewTextHandler(&logs, nil)))
	var order []string
	r.Register("config", func() error { order = append(order, "config"); return nil })
	r.Register("tls", func() error { order = append(order, "tls"); return errors.New("bad certificate") })
	r.Register("later", func() error { order = append(order, "later"); return nil })

	err := r.Reload()
	if err == nil || !strings.Contains(err.Error(), "reload tls: bad certificate") {
		t.Errorf("err %v, want the tls failure", err)
	}
	if got := strings.Join(order, ","); got != "config,tls,later" {
		t.Errorf("ran %s, want every part in order despite the failure", got)
	}
	if !strings.Contains(logs.String(), "part=tls") || !strings.Contains(logs.String(), "failed=1") {
		t.Errorf("log does not say what failed:\n%s", logs.String())
	}
	if err := (&reloader{log: slog.New(slog.DiscardHandler)}).Reload(); err != nil {
		t.Errorf("empty reloader: %v", err)
	}
}
