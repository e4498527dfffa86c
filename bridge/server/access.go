package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/wsbridge/wsbridge/bridge/auth"
)

// A writable terminal is a shell for whoever reaches the port. When other
// hosts can reach it and nothing else authenticates its users, it takes an
// access token made at startup, printed in a URL, as Jupyter and code-server
// do; --no-auth turns that off, with a warning. Which listeners are open is
// known only once they are (systemd passes its own), so the guard is built
// with the handler chain and armed by Listen.

// openTerminal reports whether cfg serves a writable terminal that no
// --credential, --credential-file or --sslca protects.
func openTerminal(cfg *Config) bool {
	return cfg.Terminal != nil && cfg.Terminal.Writable && !credentialed(cfg)
}

// credentialed reports whether cfg authenticates clients with
// --credential, --credential-file, --sslca, a JWT or --auth-header:
// credentials a browser sends by itself (a cookie, a certificate, an
// authenticating proxy's session), whichever page asks.
func credentialed(cfg *Config) bool {
	return len(cfg.Credentials)+len(cfg.CredentialFiles) > 0 || (cfg.SSL && cfg.SSLCA != "") || cfg.JWT != nil || cfg.AuthHeader != ""
}

// accessGuard puts the access token in front of next once armed; until then
// (and for good when the listeners are all loopback or unix sockets) it
// passes every request on.
type accessGuard struct {
	token   *auth.AccessToken
	guarded http.Handler
	open    http.Handler
	armed   atomic.Bool
}

// newAccessGuard guards next with token (--token-file), or with a random
// one when token is "".
func newAccessGuard(next http.Handler, token string, logger *slog.Logger, onRefuse func()) *accessGuard {
	var tok *auth.AccessToken
	if token != "" {
		tok = auth.NewAccessTokenOf(token, logger)
	} else {
		tok = auth.NewAccessToken(logger)
	}
	tok.OnRefuse = onRefuse
	return &accessGuard{token: tok, guarded: tok.Middleware(next), open: next}
}

func (g *accessGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.armed.Load() {
		g.guarded.ServeHTTP(w, r)
		return
	}
	g.open.ServeHTTP(w, r)
}

// beyondLoopback reports whether any of ls accepts connections from other
// hosts: a TCP listener on a non-loopback address, the unspecified one (all
// interfaces) included. Unix sockets are local; any other kind of socket
// counts as reachable.
func beyondLoopback(ls []net.Listener) bool {
	return slices.ContainsFunc(ls, func(l net.Listener) bool {
		switch a := l.Addr().(type) {
		case *net.UnixAddr:
			return false
		case *net.TCPAddr:
			return !a.IP.IsLoopback()
		default:
			return true
		}
	})
}

// armAccess decides, once the listeners are open, whether the writable
// terminal needs its access token, and tells the person who started
// wsbridge: the URLs with the token, printed once on stderr, and in the log
// without it (logs are kept and shipped; the token is a shell); with
// --token-file they know the token, and it is not printed at all. Or the
// warning that --no-auth leaves the shell open. A token of --token-file
// is required on every listener, loopback ones too: it was asked for.
func (s *Server) armAccess() {
	_, openEndpoint := needsGuards(s.cfg, s.cfg.Endpoints)
	if s.cfg.Terminal == nil && !openEndpoint {
		return
	}
	pinned := s.cfg.AccessToken != ""
	if !(openTerminal(s.cfg) || openEndpoint) || !(pinned || beyondLoopback(s.ls.web)) {
		s.announceTerminal()
		return
	}
	if s.cfg.NoAuth {
		s.log.Warn("--no-auth: the writable terminal is reachable from other hosts without any authentication; anyone who can connect gets a shell",
			"listeners", strings.Join(listenerAddrs(s.ls.web), " "))
		s.announceTerminal()
		return
	}
	g := s.web.access
	g.armed.Store(true)
	msg := "writable terminal reachable from other hosts: it needs the access token printed on stderr; open"
	if pinned {
		msg = "writable terminal: it needs the access token of --token-file; open"
	}
	for _, u := range accessURLs(s.ls, s.cfg, redactedToken) {
		s.log.Info(msg, "url", u)
	}
	// A shared terminal also gets a read-only link, to hand to people who
	// are to watch and not type.
	watch := s.cfg.Terminal != nil && s.cfg.Terminal.Shared
	if watch {
		for _, u := range accessURLs(s.ls, s.cfg, redactedToken) {
			s.log.Info("read-only link to the shared terminal: open", "url", u)
		}
	}
	var b strings.Builder
	if pinned {
		if watch && s.cfg.Log != nil {
			b.WriteString("\nThe read-only link to the shared terminal (its keys never reach the program):\n\n")
			for _, u := range accessURLs(s.ls, s.cfg, g.token.WatchToken()) {
				fmt.Fprintf(&b, "    %s\n", u)
			}
			b.WriteString("\n")
			fmt.Fprint(s.cfg.Log, b.String())
		}
		return
	}
	urls := accessURLs(s.ls, s.cfg, g.token.Token())
	b.WriteString("\nThe writable terminal is reachable from other hosts and no --credential or --sslca\n" +
		"is set, so it takes an access token. Open it at:\n\n")
	for _, u := range urls {
		fmt.Fprintf(&b, "    %s\n", u)
	}
	if watch {
		b.WriteString("\nTo let others watch without typing, give them the read-only link:\n\n")
		for _, u := range accessURLs(s.ls, s.cfg, g.token.WatchToken()) {
			fmt.Fprintf(&b, "    %s\n", u)
		}
	}
	if s.cfg.Dir != "" {
		b.WriteString("\n(with --dir, put the script's path before ?token=)\n")
	}
	b.WriteString("\nThis is printed once and not logged; --token-file=FILE sets the token instead.\n" +
		"--no-auth turns the token off; --address=127.0.0.1 keeps the terminal local.\n\n")
	if s.cfg.Log != nil {
		fmt.Fprint(s.cfg.Log, b.String())
	}
}

// announceTerminal tells the person who started a terminal that needs no
// token where to open it, as the token case does: the page is the point of
// --terminal, and its URL is not obvious when the port came from a config
// file or systemd. Unix sockets have no URL to give.
func (s *Server) announceTerminal() {
	urls := accessURLs(s.ls, s.cfg, "")
	for _, u := range urls {
		s.log.Info("browser terminal: open", "url", u)
	}
	if len(urls) == 0 || s.cfg.LogFormat == "json" || s.cfg.Log == nil {
		return
	}
	var b strings.Builder
	b.WriteString("\nOpen the terminal in a browser at:\n\n")
	for _, u := range urls {
		fmt.Fprintf(&b, "    %s\n", u)
	}
	if s.cfg.Dir != "" {
		b.WriteString("\n(with --dir, add the script's path)\n")
	}
	b.WriteString("\n")
	fmt.Fprint(s.cfg.Log, b.String())
}

// redactedToken stands for the access token in the log.
const redactedToken = "REDACTED"

// accessURLs are the page's URLs with the token (none when token is ""),
// one per TCP listener (not --redirport's): a listener on all interfaces is
// given by the host's name and by localhost.
func accessURLs(ls listeners, cfg *Config, token string) []string {
	scheme := "http"
	if cfg.SSL {
		scheme = "https"
	}
	var urls []string
	for _, l := range ls.web {
		a, ok := l.Addr().(*net.TCPAddr)
		if !ok || (!ls.activated && cfg.RedirPort != 0 && a.Port == cfg.RedirPort) {
			continue
		}
		hosts := []string{a.IP.String()}
		if a.IP.IsUnspecified() {
			hosts = hosts[:0]
			if name, err := os.Hostname(); err == nil && name != "" {
				hosts = append(hosts, name)
			}
			hosts = append(hosts, "localhost")
		}
		for _, h := range hosts {
			u := scheme + "://" + net.JoinHostPort(h, strconv.Itoa(a.Port)) + terminalPath(cfg)
			if token != "" {
				u += "?" + auth.AccessTokenParam + "=" + token
			}
			if !slices.Contains(urls, u) {
				urls = append(urls, u)
			}
		}
	}
	return urls
}

// terminalPath is where the page of cfg's terminal is: "/" for --terminal
// with COMMAND or --dir, else the path of the first writable terminal
// endpoint, or of the first terminal endpoint.
func terminalPath(cfg *Config) string {
	if cfg.Terminal != nil && (len(cfg.Command) > 0 || cfg.Dir != "") {
		return "/"
	}
	path := ""
	for _, ep := range cfg.Endpoints {
		if t := ep.Config.Terminal; t != nil && (path == "" || t.Writable) {
			path = ep.Path
			if t.Writable {
				break
			}
		}
	}
	if path == "" {
		return "/"
	}
	return path
}

func listenerAddrs(ls []net.Listener) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Addr().String()
	}
	return out
}
