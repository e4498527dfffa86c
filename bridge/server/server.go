// Package server runs the daemon: listeners, TLS, systemd activation and
// notify, routing of plain HTTP vs upgrades, trusted proxies, extra headers,
// the metrics listener, reload and shutdown; it wires the gate to its kind.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/metrics"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// ErrCannotListen wraps the errors of Listen, and of Run when serving
// fails: websocketd's exit status 3.
var ErrCannotListen = errors.New("cannot listen")

// Server is the daemon: the session handler behind the HTTP chain, the
// public listeners, the metrics listener, the signals that drive it, and
// systemd's view of it. New builds it, Listen opens its sockets, Run serves
// until a signal, Close releases what New opened.
type Server struct {
	cfg     *Config
	log     *slog.Logger
	level   *slog.LevelVar
	handler *bridge.Handler
	web     *web
	metrics *metrics.Metrics
	srv     *http.Server
	limits  *connLimits // --max-conns-per-ip
	ls      listeners

	metricsSrv *http.Server // nil without a metrics listener
	hosts      *hostGuard   // the Host check of every listener, metrics too

	reload          *reloader
	retiring        sync.WaitGroup // endpoints a reload replaced (endpointReload)
	shutdownTimeout time.Duration
	ready           atomic.Bool // listening and not shutting down (/readyz)
	sd              notifier
}

// New builds the daemon from cfg: it looks up the command and opens the
// folders, certificates and credential files cfg names. An error means a
// bad configuration (websocketd's exit status 1).
func New(cfg *Config) (*Server, error) {
	level := new(slog.LevelVar)
	level.Set(levelByName[cfg.LogLevel])
	logger := newLogger(cfg.Log, level, cfg.LogFormat)
	// Metrics are counted whether or not they are served: a socket-activated
	// metrics listener is known only once the listeners are open.
	m := metrics.New(cfg.Version)
	g, err := newGate(cfg, cfg, "/", nil, logger, m)
	if err != nil {
		return nil, err
	}
	eb := &endpointBuilder{srv: cfg, base: g.handler, log: logger, obs: m}
	var eps []*endpoint
	if len(cfg.Command) > 0 || cfg.Dir != "" {
		eps = append(eps, newEndpoint("/", g, pageOf(cfg, logger), endpointSettings(cfg)))
	}
	more, _, err := eb.buildAll(cfg.Endpoints, nil)
	if err == nil && len(eps) > 0 && slices.ContainsFunc(more, func(e *endpoint) bool { return e.path == "/" }) {
		err = errors.New("endpoint /: the path is given twice: COMMAND or --dir is the / endpoint")
	}
	if err != nil {
		for _, e := range append(eps, more...) {
			if e.dir != nil {
				e.dir.Close()
			}
		}
		return nil, err
	}
	eps = append(eps, more...)
	wb, err := newWeb(cfg, g, newEndpointTable(eps), logger, m)
	if err != nil {
		return nil, err // newWeb has closed the folders
	}
	s := &Server{
		cfg: cfg, log: logger, level: level, handler: g.handler, web: wb, metrics: m,
		reload:          newReloader(logger),
		shutdownTimeout: cfg.ShutdownTimeout,
		sd:              notifier{log: logger},
	}
	s.hosts = newHostGuard(cfg.AllowedHosts, wb.certs, logger, func() { g.handler.Refused(session.RefusedHost) })
	s.limits = newConnLimits(cfg.MaxConnsPerIP, cfg.ConnRate, cfg.TrustedProxies, logger, g.handler.Refused)
	s.srv = &http.Server{
		// Forwarded addresses are settled first, so every check after
		// sees the client's address. Then the Host check, before anything
		// answers (DNS rebinding); its 403 too is never framed. The
		// per-address session limit comes next, before authentication.
		Handler:           cfg.TrustedProxies.wrap(cfg.TrustedProxyHeader, denyFraming(s.hosts.wrap(s.limits.limitSessions(wb.handler)))),
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       cfg.IdleConnTimeout,
		ConnContext:       s.limits.connContext,
		ConnState:         s.limits.connState,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), session.LevelDebug),
	}
	if cfg.Reparse != nil {
		live := newLiveSettings(logger, level, g.handler, cfg)
		live.endpoints = (&endpointReload{builder: eb, router: wb.router, log: logger, startup: cfg, retiring: &s.retiring}).reload
		s.reload.Register("config", live.reload)
	}
	if wb.certs != nil {
		s.reload.Register("tls", wb.certs.Reload)
	}
	return s, nil
}

// Close releases what New opened (folders, files); Run's listeners are
// closed by Run.
func (s *Server) Close() { s.web.close() }

// Listen opens the listeners: the sockets systemd passed, or --port and
// --address (and --redirport, --unixsocket), and the metrics listener; then
// a writable terminal reachable from other hosts gets its access token. The
// error wraps ErrCannotListen and is logged as fatal.
func (s *Server) Listen() error {
	ls, err := openListeners(s.cfg, s.web.tls, s.limits.listener)
	if err != nil {
		s.log.Log(context.Background(), session.LevelFatal, "cannot listen", "err", err)
		return fmt.Errorf("%w: %w", ErrCannotListen, err)
	}
	s.ls = ls
	if unused := unusedUnderActivation(s.cfg); ls.activated && len(unused) > 0 {
		s.log.Warn("socket activation: systemd passed the listening sockets, so these settings are not used; set the address in the .socket unit's ListenStream=",
			"unused", strings.Join(unused, " "), "listeners", strings.Join(listenerAddrs(ls.web), " "))
	}
	s.armAccess()
	if len(ls.metrics) > 0 {
		s.metricsSrv = &http.Server{
			// The Host check too: a rebound page could read the metrics.
			Handler:           s.hosts.wrap(&metrics.Health{Metrics: s.metrics, Handler: s.handler, Ready: &s.ready}),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), session.LevelDebug),
		}
	}
	return nil
}

// Run serves on the listeners Listen opened until SIGINT or SIGTERM (or,
// with --once, the end of the session), reloading on SIGHUP; it returns nil
// after a clean shutdown, or an error wrapping ErrCannotListen when serving
// failed. Shutdown: stop
// accepting, end every session with 1001 after its child's kill sequence
// (what the child writes meanwhile still reaches its client), wait up to
// --shutdown-timeout, then kill what is left. A second SIGINT or SIGTERM
// skips the wait.
func (s *Server) Run() error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	var wg sync.WaitGroup
	serveErr := make(chan error, len(s.ls.web)+len(s.ls.metrics))
	start := func(srv *http.Server, l net.Listener) {
		wg.Go(func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
		})
	}
	logFDLimit(s.log)
	if s.hosts.off() {
		s.log.Warn("--allowed-host=*: requests are accepted whatever host name they give, so a web page can reach this server through DNS rebinding; list the names instead")
	}
	addrs := make([]string, 0, len(s.ls.web))
	for _, l := range s.ls.web {
		s.log.Info("listening", "address", l.Addr().String())
		addrs = append(addrs, l.Addr().String())
		start(s.srv, l)
	}
	for _, l := range s.ls.metrics {
		s.log.Info("serving metrics", "address", l.Addr().String(), "paths", "/metrics /healthz /readyz")
		start(s.metricsSrv, l)
	}

	// The JWK Set's refresh (--jwks-refresh), until shutdown.
	jwksCtx, stopJWKS := context.WithCancel(context.Background())
	if s.web.jwt != nil {
		wg.Go(func() { s.web.jwt.RefreshJWKS(jwksCtx) })
	}

	s.ready.Store(true)
	s.sd.ready("listening on " + strings.Join(addrs, " "))
	var failed atomic.Bool
	wdCtx, stopWatchdog := context.WithCancel(context.Background())
	waitWatchdog := s.sd.startWatchdog(wdCtx, func() bool { return !failed.Load() })

	var runErr error
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
			runErr = fmt.Errorf("%w: %w", ErrCannotListen, err)
			break loop
		}
	}

	s.ready.Store(false)
	stopJWKS()
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
	s.waitRetired()
	if s.metricsSrv != nil && s.metricsSrv.Shutdown(ctx) != nil {
		s.metricsSrv.Close()
	}
	close(hurry)
	hurryWG.Wait()
	stopWatchdog()
	waitWatchdog()
	wg.Wait()
	code := 0
	if runErr != nil {
		code = 3
	}
	s.log.Info("stopped", "exit", strconv.Itoa(code))
	return runErr
}

// waitRetired waits for the endpoints reloads replaced to give back what
// they held: their sessions have just ended, so this is quick, and it is
// bounded all the same, as the sessions' end was.
func (s *Server) waitRetired() {
	done := make(chan struct{})
	go func() {
		s.retiring.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(retireWait):
		s.log.Warn("endpoints replaced by a reload still hold their Redis connections at exit")
	}
}

// retireWait bounds waitRetired.
const retireWait = 5 * time.Second
