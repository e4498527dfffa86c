package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/auth"
	"github.com/wsbridge/wsbridge/bridge/metrics"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/static"
)

// pageOf is the page a plain GET on an endpoint of cfg gets: the terminal
// page with --terminal, the dev console with --devconsole, else none.
func pageOf(cfg *Config, logger *slog.Logger) http.Handler {
	switch {
	case cfg.Terminal != nil:
		return terminalPage(cfg, logger)
	case cfg.DevConsole:
		return static.DevConsole()
	}
	return nil
}

// maxHeaderBytes limits a request's headers to 64 KiB in all: net/http
// allows 4 KiB on top of MaxHeaderBytes. Past it the answer is 431.
const maxHeaderBytes = 64<<10 - 4096

// web is the HTTP side of the daemon, around the session handler.
type web struct {
	handler http.Handler
	tls     *tls.Config // nil without --ssl
	certs   *certReloader
	access  *accessGuard // nil unless cfg serves a writable terminal nothing else protects
	jwt     *auth.JWT    // nil without; its JWK Set is refreshed by Run
	router  *router
	closers []func() error
}

func (w *web) close() {
	for _, c := range w.closers {
		c()
	}
}

// newWeb builds what answers every request, outermost first: --redirport's
// redirect, the --header* headers, the --origin/--sameorigin check, Basic
// authentication (any one of --auth-header, a JWT and Basic credentials;
// or a writable terminal's access token), the
// client-certificate variables, then the router.
// Everything that refuses a request does so before any process starts.
func newWeb(cfg *Config, g *gate, table *endpointTable, logger *slog.Logger, m *metrics.Metrics) (*web, error) {
	h := g.handler
	wb := &web{}
	ok := false
	defer func() {
		if !ok {
			wb.close()
		}
	}()
	for _, e := range table.byLength {
		if e.dir != nil {
			wb.closers = append(wb.closers, e.dir.Close)
		}
	}

	rt := newRouter(table, h, logger)
	wb.router = rt
	if cfg.Broadcast != nil || slices.ContainsFunc(cfg.Endpoints, func(e Endpoint) bool { return e.Config.Broadcast != nil }) {
		rt.assets = map[string]http.Handler{static.BroadcastClientPath: static.BroadcastClient()}
	}
	// Plain requests: CGI first, then static files, then the fallback.
	// Scripts are never served as files: nothing of --cgidir, and no
	// executable of --dir (whose folder may hold the pages too).
	var excluded, hideExec []string
	for _, e := range table.byLength {
		if e.dir != nil {
			hideExec = append(hideExec, e.dir.Base())
		}
	}
	var cgiDir *bridge.ScriptDir
	if cfg.CGIDir != "" {
		d, err := bridge.OpenScriptDir(cfg.CGIDir)
		if err != nil {
			return nil, fmt.Errorf("--cgidir: %w", err)
		}
		wb.closers = append(wb.closers, d.Close)
		excluded = append(excluded, d.Base())
		cgiDir = d
	}
	if cfg.StaticDir != "" {
		fs, err := static.NewFileServer(cfg.StaticDir, static.Options{Exclude: excluded, HideExecutables: hideExec, NotFound: rt.plain})
		if err != nil {
			return nil, fmt.Errorf("--staticdir: %w", err)
		}
		wb.closers = append(wb.closers, fs.Close)
		rt.plain = fs
	}
	if cgiDir != nil {
		rt.plain = h.CGI(cgiDir, rt.plain)
	}
	rt.files = cfg.StaticDir != "" || cgiDir != nil
	var handler http.Handler = rt

	if t := cfg.Terminal; t != nil && len(t.Writers)+len(t.WritersClaims) > 0 {
		// Inside authentication, which says who the client is.
		w := &auth.Writers{Users: t.Writers, Claims: t.WritersClaims, Logger: logger}
		handler = w.Middleware(handler)
	}
	if cfg.SSL && cfg.SSLCA != "" {
		handler = clientCertEnv(handler)
	}
	chain, err := authChain(cfg, logger, h, m)
	if err != nil {
		return nil, err
	}
	if chain != nil {
		wb.jwt = chain.JWT
		handler = chain.Middleware(handler)
	}
	terminals, writable := needsGuards(cfg, cfg.Endpoints)
	if (openTerminal(cfg) || writable) && !cfg.NoAuth {
		wb.access = newAccessGuard(handler, cfg.AccessToken, logger, func() { h.Refused(session.RefusedToken) })
		handler = wb.access
	}
	origins := cfg.Origins
	if origins == nil {
		origins, _ = bridge.NewOriginPolicy(nil, false) // none: cannot fail
	}
	if !origins.Active() && (cfg.Terminal != nil || terminals || credentialed(cfg)) {
		// A shell is not for other sites, nor are credentials a browser
		// sends by itself.
		origins = bridge.OwnOriginPolicy()
	}
	origins.OnRefuse = func() { h.Refused(session.RefusedOrigin) }
	handler = origins.Middleware(logger)(handler)
	handler = withHeaders(cfg.Headers, cfg.HeadersWS, cfg.HeadersHTTP, handler)
	if cfg.SSL {
		certs, err := newCertReloader(cfg.SSLCert, cfg.SSLKey, cfg.SSLCA, logger)
		if err != nil {
			return nil, err
		}
		wb.certs, wb.tls = certs, certs.Config()
	}
	if cfg.RedirPort != 0 {
		scheme := "http"
		if cfg.SSL {
			scheme = "https"
		}
		handler = redirectTo(scheme, cfg.ListenPort(), cfg.RedirPort, handler)
	}
	wb.handler = handler
	ok = true
	return wb, nil
}

// authChain builds the authentication methods cfg asks for, any one of
// which admits a request (auth.Chain); nil when there are none.
func authChain(cfg *Config, logger *slog.Logger, h *bridge.Handler, m *metrics.Metrics) (*auth.Chain, error) {
	c := &auth.Chain{Log: logger}
	if len(cfg.Credentials)+len(cfg.CredentialFiles) > 0 {
		basic, err := auth.NewBasic(auth.BasicOptions{Credentials: cfg.Credentials, Files: cfg.CredentialFiles, Logger: logger})
		if err != nil {
			return nil, err
		}
		c.Basic = basic
	}
	if cfg.JWT != nil {
		opts := *cfg.JWT
		opts.Logger = logger
		if m != nil {
			opts.OnJWKSFetch = m.Auth.JWKSFetch
		}
		j, err := auth.NewJWT(opts)
		if err != nil {
			return nil, err
		}
		c.JWT = j
	}
	if cfg.AuthHeader != "" {
		c.Proxy = &auth.ProxyHeader{Header: cfg.AuthHeader}
	}
	if c.Basic == nil && c.JWT == nil && c.Proxy == nil {
		return nil, nil
	}
	c.OnRefuse = func(method, reason string) {
		h.Refused(session.RefusedAuth)
		if m != nil {
			m.Auth.Refused(method, reason)
		}
	}
	return c, nil
}
