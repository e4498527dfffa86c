package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
)

// service is the running daemon: the public listeners, the metrics listener,
// the signals that drive it, and systemd's view of it.
type service struct {
	log     *slog.Logger
	handler *bridge.Handler
	srv     *http.Server
	web     []net.Listener

	metricsSrv *http.Server // nil without a metrics listener
	metricsL   []net.Listener

	reload          *reloader
	shutdownTimeout time.Duration
	ready           atomic.Bool // listening and not shutting down (/readyz)
	sd              notifier
}

// listeners are what the daemon serves on.
type listeners struct {
	web, metrics []net.Listener
	activated    bool // passed by systemd
}

func (ls listeners) close() {
	for _, l := range append(ls.web, ls.metrics...) {
		l.Close()
	}
}

// openListeners takes the sockets systemd passed, if it did (then --port and
// --address are not used), else listens on --port and --address; and opens
// --metrics-address unless systemd passed a "metrics" socket.
func (c *cli) openListeners(tlsConfig *tls.Config) (listeners, error) {
	var ls listeners
	web, metrics, err := activatedListeners()
	if err != nil {
		return ls, err
	}
	ls.web, ls.metrics, ls.activated = web, metrics, len(web) > 0
	if ls.activated && tlsConfig != nil {
		for i, l := range ls.web {
			ls.web[i] = tls.NewListener(l, tlsConfig)
		}
	}
	if !ls.activated {
		if ls.web, err = c.listenAll(tlsConfig); err != nil {
			return ls, err
		}
	}
	if c.MetricsAddress != "" && len(ls.metrics) == 0 {
		l, err := net.Listen("tcp", c.MetricsAddress)
		if err != nil {
			ls.close()
			return listeners{}, fmt.Errorf("--metrics-address=%q: %w", c.MetricsAddress, err)
		}
		ls.metrics = append(ls.metrics, l)
	}
	return ls, nil
}

// validateService checks the flags of this file's concern.
func (c *cli) validateService() error {
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout=%s: must be more than 0", c.ShutdownTimeout)
	}
	if c.MetricsAddress != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddress); err != nil || port == "" {
			return fmt.Errorf("--metrics-address=%q: want HOST:PORT, such as 127.0.0.1:9180", c.MetricsAddress)
		}
	}
	if _, err := parseTrustedProxies(c.TrustedProxy); err != nil {
		return err
	}
	return nil
}

// observer returns m as a bridge.Observer, or nil without metrics.
func observer(m *metrics) bridge.Observer {
	if m == nil {
		return nil
	}
	return m
}

// serve runs until SIGINT or SIGTERM, reloading on SIGHUP. Shutdown: stop
// accepting, end every session with 1001 after its child's kill sequence
// (what the child writes meanwhile still reaches its client), wait up to
// --shutdown-timeout, then kill what is left. A second SIGINT or SIGTERM
// skips the wait.
func (s *service) serve() int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	var wg sync.WaitGroup
	serveErr := make(chan error, len(s.web)+len(s.metricsL))
	start := func(srv *http.Server, l net.Listener) {
		wg.Go(func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
		})
	}
	addrs := make([]string, 0, len(s.web))
	for _, l := range s.web {
		s.log.Info("listening", "address", l.Addr().String())
		addrs = append(addrs, l.Addr().String())
		start(s.srv, l)
	}
	for _, l := range s.metricsL {
		s.log.Info("serving metrics", "address", l.Addr().String(), "paths", "/metrics /healthz /readyz")
		start(s.metricsSrv, l)
	}

	s.ready.Store(true)
	s.sd.ready("listening on " + strings.Join(addrs, " "))
	var failed atomic.Bool
	wdCtx, stopWatchdog := context.WithCancel(context.Background())
	waitWatchdog := s.sd.startWatchdog(wdCtx, func() bool { return !failed.Load() })

	code := exitOK
loop:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.sd.reloading()
				s.reload.Reload()
				s.sd.ready("listening on " + strings.Join(addrs, " ") + "; reloaded")
				continue
			}
			s.log.Info("shutting down", "signal", sig.String(), "sessions", s.handler.Active(),
				"timeout", s.shutdownTimeout.String())
			break loop
		case <-s.handler.OnceDone():
			s.log.Info("shutting down", "reason", "--once: the session has ended")
			break loop
		case err := <-serveErr:
			failed.Store(true)
			s.log.Error("serve", "err", err)
			code = exitCannotListen
			break loop
		}
	}

	s.ready.Store(false)
	s.sd.stopping()
	ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	hurry := make(chan struct{})
	var hurryWG sync.WaitGroup
	hurryWG.Go(func() {
		for {
			select {
			case sig := <-sigs:
				if sig != syscall.SIGHUP {
					s.log.Info("second signal: killing the remaining sessions now", "signal", sig.String())
					cancel()
					return
				}
			case <-hurry:
				return
			}
		}
	})

	// The listeners close and the sessions start ending at the same time: a
	// slow plain HTTP request must not hold back the sessions' kill sequences.
	var shut sync.WaitGroup
	shut.Go(func() {
		if s.srv.Shutdown(ctx) != nil {
			s.srv.Close() // plain HTTP requests still running at the deadline
		}
	})
	if err := s.handler.Shutdown(ctx); err != nil {
		s.log.Error("shutdown timed out: remaining sessions killed", "err", err)
	}
	shut.Wait()
	if s.metricsSrv != nil && s.metricsSrv.Shutdown(ctx) != nil {
		s.metricsSrv.Close()
	}
	close(hurry)
	hurryWG.Wait()
	stopWatchdog()
	waitWatchdog()
	wg.Wait()
	s.log.Info("stopped", "exit", strconv.Itoa(code))
	return code
}
