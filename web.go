package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/static"
)

// maxHeaderBytes limits a request's headers to 64 KiB in all: net/http
// allows 4 KiB on top of MaxHeaderBytes. Past it the answer is 431.
const maxHeaderBytes = 64<<10 - 4096

// HTTPFlags are the web server's flags, websocketd's names and meanings.
// They are embedded in cli.
type HTTPFlags struct {
	Dir            string        `name:"dir" help:"Serve every executable under DIR as an endpoint named by its path, instead of one COMMAND: /chat.sh/room/1?x=y runs DIR/chat.sh with SCRIPT_NAME=/chat.sh and PATH_INFO=/room/1; subfolders work. Folders, missing or non-executable files, dotfiles and anything outside DIR get 404 before the upgrade." placeholder:"DIR"`
	StaticDir      string        `name:"staticdir" help:"Serve the files under DIR to plain GET and HEAD requests, with Content-Type, ETag, Last-Modified and ranges; a folder is served by its index.html. Never dotfiles, folder listings, anything outside DIR (symlinks included), nor scripts of --cgidir or --dir." placeholder:"DIR"`
	CgiDir         string        `name:"cgidir" help:"Run the CGI scripts under DIR for plain HTTP requests, with the same environment as sessions (--passenv only); each running script counts against --maxforks. Scripts are never served as static files." placeholder:"DIR"`
	DevConsole     bool          `name:"devconsole" help:"Answer a plain GET on any endpoint with an interactive console page to connect to it, send text or hex bytes and watch messages and close codes. Cannot be combined with --staticdir."`
	Origin         []string      `name:"origin" help:"Accept WebSocket upgrades only from pages of these origins, comma-separated or repeated: host, host:port, http://host[:port] or https://host[:port]. Without a port any port matches; without a scheme http and https do. Others, and a missing or null Origin, get 403." placeholder:"HOST[:PORT]"`
	SameOrigin     bool          `name:"sameorigin" help:"Accept WebSocket upgrades only from pages of this server's own host and port (Origin against the Host header); others, and a missing Origin, get 403."`
	Credential     []string      `name:"credential" sep:"none" help:"Require HTTP Basic authentication on every request with this USER:PASSWORD; repeat for more users. Failures get 401. The child sees REMOTE_USER and AUTH_TYPE=Basic; pages served carry a short-lived cookie so browsers that send no credentials on a WebSocket upgrade (Safari) still connect." placeholder:"USER:PASSWORD"`
	CredentialFile []string      `name:"credential-file" sep:"none" help:"Read --credential entries from FILE: one USER:PASSWORD or USER:BCRYPT-HASH per line; blank lines and # comments are skipped. Repeatable." placeholder:"FILE"`
	SSL            bool          `name:"ssl" help:"Serve HTTPS and WSS (TLS 1.2 or newer) with --sslcert and --sslkey; the default port becomes 443. SIGHUP re-reads the certificate files without dropping sessions."`
	SSLCert        string        `name:"sslcert" help:"PEM certificate (chain) for --ssl." placeholder:"FILE"`
	SSLKey         string        `name:"sslkey" help:"PEM private key for --ssl." placeholder:"FILE"`
	SSLCA          string        `name:"sslca" help:"With --ssl, require client certificates signed by a CA in this PEM file; the child sees SSL_CLIENT_S_DN and SSL_CLIENT_VERIFY." placeholder:"FILE"`
	RedirPort      int           `name:"redirport" help:"Also listen on this port and answer plain HTTP there with a redirect to the main port (https with --ssl), keeping path and query." placeholder:"PORT"`
	Header         []string      `name:"header" sep:"none" help:"Add the header \"Name: value\" to every response; repeatable." placeholder:"\"NAME: VALUE\""`
	HeaderWS       []string      `name:"header-ws" sep:"none" help:"Add the header \"Name: value\" to responses to WebSocket upgrades only; repeatable." placeholder:"\"NAME: VALUE\""`
	HeaderHTTP     []string      `name:"header-http" sep:"none" help:"Add the header \"Name: value\" to plain HTTP responses only; repeatable." placeholder:"\"NAME: VALUE\""`
	UnixSocket     string        `name:"unixsocket" help:"Listen on this unix socket, plain HTTP: alone, or beside TCP when --port or --address is given too. A stale socket file is replaced; one in use is an error. The child sees REMOTE_ADDR=unix-socket." placeholder:"PATH"`
	Subprotocol    []string      `name:"subprotocol" help:"A WebSocket subprotocol spoken, comma-separated or repeated, preferred in this order whatever the client's order; the child sees the chosen one as WEBSOCKET_PROTOCOL. A client offering only others gets 400." placeholder:"NAME"`
	HeaderTimeout  time.Duration `name:"headertimeout" default:"10s" help:"Longest wait for a request's headers, TLS handshake included. Request headers are limited to 64 KiB (larger get 431)." placeholder:"DURATION"`
}

// validateHTTP checks the HTTP flags on their own, before anything is
// opened; files and folders are checked when they are opened.
func (c *cli) validateHTTP() error {
	switch {
	case c.Dir != "" && len(c.Command) > 0:
		return fmt.Errorf("--dir and a COMMAND (%q) cannot be combined: --dir serves the executables under DIR", c.Command[0])
	case c.DevConsole && c.StaticDir != "":
		return errors.New("--devconsole cannot be combined with --staticdir: both answer plain GET requests")
	case c.SSL && (c.SSLCert == "" || c.SSLKey == ""):
		return errSSLFlags
	case !c.SSL && (c.SSLCert != "" || c.SSLKey != "" || c.SSLCA != ""):
		return errors.New("--sslcert, --sslkey and --sslca need --ssl")
	case c.RedirPort < 0 || c.RedirPort > 65535:
		return fmt.Errorf("--redirport=%d: not a port number (1-65535)", c.RedirPort)
	case c.RedirPort != 0 && c.RedirPort == c.defaultPort():
		return fmt.Errorf("--redirport=%d: must differ from the main port", c.RedirPort)
	case c.HeaderTimeout <= 0:
		return fmt.Errorf("--headertimeout=%v: must be more than 0", c.HeaderTimeout)
	}
	for _, h := range []struct {
		flag  string
		items []string
	}{{"--header", c.Header}, {"--header-ws", c.HeaderWS}, {"--header-http", c.HeaderHTTP}} {
		if _, err := parseHeaders(h.flag, h.items); err != nil {
			return err
		}
	}
	if _, err := bridge.NewOriginPolicy(c.Origin, c.SameOrigin); err != nil {
		return err
	}
	// Checked as used: split at commas, which a config file string or
	// "a, b" leaves in one item.
	for _, p := range c.subprotocols() {
		if !isToken(p) {
			return fmt.Errorf("--subprotocol=%q: not a valid subprotocol name", p)
		}
	}
	for _, cr := range c.Credential {
		if user, _, ok := strings.Cut(cr, ":"); !ok || user == "" {
			return errors.New("--credential: want USER:PASSWORD")
		}
	}
	return nil
}

// subprotocols is --subprotocol with comma-separated items split.
func (c *cli) subprotocols() []string {
	var out []string
	for _, item := range c.Subprotocol {
		for _, p := range strings.Split(item, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// resolver is the session handler's endpoint lookup: nil (the one COMMAND
// everywhere) unless --dir.
func (c *cli) resolver() (func(*http.Request) (bridge.Endpoint, error), *bridge.ScriptDir, error) {
	if c.Dir == "" {
		return nil, nil, nil
	}
	d, err := bridge.OpenScriptDir(c.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("--dir: %w", err)
	}
	return d.Resolve, d, nil
}

// web is the HTTP side of the daemon, around the session handler.
type web struct {
	handler http.Handler
	tls     *tls.Config // nil without --ssl
	certs   *certReloader
	closers []func() error
}

func (w *web) close() {
	for _, c := range w.closers {
		c()
	}
}

// newWeb builds what answers every request, outermost first: --redirport's
// redirect, the --header* headers, the --origin/--sameorigin check, Basic
// authentication, the client-certificate variables, then the router.
// Everything that refuses a request does so before any process starts.
func (c *cli) newWeb(h *bridge.Handler, resolve func(*http.Request) (bridge.Endpoint, error), dir *bridge.ScriptDir, logger *slog.Logger) (*web, error) {
	wb := &web{}
	ok := false
	defer func() {
		if !ok {
			wb.close()
		}
	}()
	if dir != nil {
		wb.closers = append(wb.closers, dir.Close)
	}

	var console http.Handler
	if c.DevConsole {
		console = static.DevConsole()
	}
	if c.Terminal {
		console = c.terminalPage()
	}
	rt := newRouter(h, resolve, console, logger)
	// Plain requests: CGI first, then static files, then the fallback.
	// Scripts are never served as files: nothing of --cgidir, and no
	// executable of --dir (whose folder may hold the pages too).
	var excluded, hideExec []string
	if dir != nil {
		hideExec = append(hideExec, dir.Base())
	}
	var cgiDir *bridge.ScriptDir
	if c.CgiDir != "" {
		d, err := bridge.OpenScriptDir(c.CgiDir)
		if err != nil {
			return nil, fmt.Errorf("--cgidir: %w", err)
		}
		wb.closers = append(wb.closers, d.Close)
		excluded = append(excluded, d.Base())
		cgiDir = d
	}
	if c.StaticDir != "" {
		fs, err := static.NewFileServer(c.StaticDir, static.Options{Exclude: excluded, HideExecutables: hideExec, NotFound: rt.plain})
		if err != nil {
			return nil, fmt.Errorf("--staticdir: %w", err)
		}
		wb.closers = append(wb.closers, fs.Close)
		rt.plain = fs
	}
	if cgiDir != nil {
		rt.plain = h.CGI(cgiDir, rt.plain)
	}
	var handler http.Handler = rt

	if c.SSL && c.SSLCA != "" {
		handler = clientCertEnv(handler)
	}
	if len(c.Credential)+len(c.CredentialFile) > 0 {
		auth, err := bridge.NewAuth(bridge.AuthOptions{Credentials: c.Credential, Files: c.CredentialFile, Logger: logger})
		if err != nil {
			return nil, err
		}
		auth.OnRefuse = func() { h.Refused(bridge.RefusedAuth) }
		handler = auth.Middleware(handler)
	}
	origins, err := bridge.NewOriginPolicy(c.Origin, c.SameOrigin)
	if err != nil {
		return nil, err
	}
	if c.Terminal && !origins.Active() {
		origins = bridge.TerminalOriginPolicy() // a shell is not for other sites
	}
	origins.OnRefuse = func() { h.Refused(bridge.RefusedOrigin) }
	handler = origins.Middleware(logger)(handler)
	all, _ := parseHeaders("--header", c.Header)
	wsOnly, _ := parseHeaders("--header-ws", c.HeaderWS)
	plain, _ := parseHeaders("--header-http", c.HeaderHTTP)
	handler = withHeaders(all, wsOnly, plain, handler)
	if c.SSL {
		certs, err := newCertReloader(c.SSLCert, c.SSLKey, c.SSLCA, logger)
		if err != nil {
			return nil, err
		}
		wb.certs, wb.tls = certs, certs.Config()
	}
	if c.RedirPort != 0 {
		scheme := "http"
		if c.SSL {
			scheme = "https"
		}
		handler = redirectTo(scheme, c.defaultPort(), c.RedirPort, handler)
	}
	wb.handler = handler
	ok = true
	return wb, nil
}
