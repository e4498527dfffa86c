//go:build linux

package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sd "github.com/coreos/go-systemd/v22/daemon"
)

// metricsSocketName is the FileDescriptorName= of a socket systemd passes
// for the metrics listener; every other passed socket serves WebSockets.
const metricsSocketName = "metrics"

// activatedListeners returns the listening sockets systemd passed
// (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), sorted by use. It unsets those
// variables. Both are empty when wsbridge was not socket-activated.
func activatedListeners() (web, metrics []net.Listener, err error) {
	files := activation.Files(true)
	defer func() {
		if err != nil {
			for _, l := range append(web, metrics...) {
				l.Close()
			}
			web, metrics = nil, nil
		}
	}()
	for _, f := range files {
		l, lerr := net.FileListener(f)
		f.Close()
		if lerr != nil {
			// Keep looking at the rest, so every descriptor gets closed.
			if err == nil {
				err = fmt.Errorf("socket activation: descriptor %q is not a listening stream socket (use ListenStream= and Accept=no): %w", f.Name(), lerr)
			}
			continue
		}
		if f.Name() == metricsSocketName {
			metrics = append(metrics, l)
		} else {
			web = append(web, l)
		}
	}
	if err == nil && len(metrics) > 0 && len(web) == 0 {
		err = fmt.Errorf("socket activation: only a %q socket was passed; the WebSocket socket needs another FileDescriptorName", metricsSocketName)
	}
	return web, metrics, err
}

// notifier tells systemd about the service's state through $NOTIFY_SOCKET
// (Type=notify); without that variable each call does nothing.
type notifier struct {
	log *slog.Logger
}

func (n notifier) notify(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Error("sd_notify", "state", state, "err", err)
	}
}

func (n notifier) ready(status string) {
	n.notify(sd.SdNotifyReady + "\nSTATUS=" + status)
}

func (n notifier) reloading() {
	n.notify(sd.SdNotifyReloading + "\n" + sd.SdNotifyMonotonicUsec())
}

func (n notifier) stopping() { n.notify(sd.SdNotifyStopping + "\nSTATUS=shutting down") }

// startWatchdog pings systemd's watchdog (WatchdogSec=, seen as
// WATCHDOG_USEC) at half its interval until ctx ends; the returned function
// waits for that. alive is asked before each ping: a daemon whose serving
// has stopped should be restarted, not kept alive by a ticker.
func (n notifier) startWatchdog(ctx context.Context, alive func() bool) (wait func()) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Error("systemd watchdog", "err", err)
	}
	if err != nil || interval <= 0 {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			if alive() {
				n.notify(sd.SdNotifyWatchdog)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return wg.Wait
}
