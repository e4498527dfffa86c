//go:build !linux

package server

import (
	"context"
	"log/slog"
	"net"
)

// systemd is Linux's: elsewhere no socket is ever passed and there is no
// service manager to notify, so the daemon neither looks for LISTEN_FDS nor
// writes to NOTIFY_SOCKET, and go-systemd is not built in.

// activatedListeners: no sockets are passed outside systemd.
func activatedListeners() (web, metrics []net.Listener, err error) { return nil, nil, nil }

// notifier has no service manager to tell anything to.
type notifier struct {
	log *slog.Logger
}

func (n notifier) ready(status string) {}

func (n notifier) reloading() {}

func (n notifier) stopping() {}

func (n notifier) startWatchdog(ctx context.Context, alive func() bool) (wait func()) {
	return func() {}
}
