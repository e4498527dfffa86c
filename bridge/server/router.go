package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// router answers every request of one port in websocketd's order: a
// WebSocket upgrade goes to the session handler; otherwise the dev console
// (a GET on an endpoint), then a CGI script, then a static file, and at last
// 426 on an endpoint (it speaks WebSocket only) or 404.
//
// Before any of that, a path that is not clean (".", "..", "//") is dealt
// with as websocketd's ServeMux does: a plain request is redirected to the
// clean path. An upgrade is served as the clean path instead: websocketd
// redirects it too, but browsers and most WebSocket clients do not follow a
// redirect, and those that do would reach that same endpoint.
type router struct {
	// endpoints are swapped whole by a reload; a request uses the table
	// it found.
	endpoints atomic.Pointer[endpointTable]
	// nowhere answers an upgrade on a path no endpoint matches: 404,
	// logged and counted.
	nowhere interface {
		RefuseNoEndpoint(http.ResponseWriter, *http.Request)
	}
	// files: a file server or a CGI folder answers plain requests (set by
	// newWeb), so where a single COMMAND is the endpoint of every path a
	// plain request they miss is a 404.
	files bool
	// assets are wsbridge's own files by path (the broadcast helper), ahead
	// of everything but the upgrade; nil: none.
	assets map[string]http.Handler
	plain  http.Handler // CGI, then static files, then fallback
	log    *slog.Logger
}

// newRouter routes to the endpoints of table, and other plain requests to
// the fallback; set plain to a chain ending in rt.fallback.
func newRouter(table *endpointTable, nowhere *bridge.Handler, log *slog.Logger) *router {
	rt := &router{nowhere: nowhere, log: log}
	rt.endpoints.Store(table)
	rt.plain = http.HandlerFunc(rt.fallback)
	return rt
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	clean, unclean := cleanRequestPath(r)
	if bridge.IsUpgrade(r) {
		if unclean {
			rt.log.Log(r.Context(), session.LevelDebug, "upgrade on an unclean path, served as the clean one", "remote", r.RemoteAddr, "path", r.URL.Path, "clean", clean)
			r = withPath(r, clean)
		}
		if e := rt.endpoints.Load().match(r.URL.Path); e != nil {
			e.ws.ServeHTTP(w, r)
		} else {
			rt.nowhere.RefuseNoEndpoint(w, r)
		}
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	e := rt.endpoints.Load().match(r.URL.Path)
	switch {
	case unclean:
		redirectClean(sw, r, clean)
	case rt.assets[r.URL.Path] != nil:
		rt.assets[r.URL.Path].ServeHTTP(sw, r)
	case e != nil && e.page != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && e.isEndpoint(r):
		e.page.ServeHTTP(sw, r)
	default:
		rt.plain.ServeHTTP(sw, r)
	}
	rt.log.Log(r.Context(), session.LevelAccess, "http", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
		"status", sw.status(), "bytes", sw.bytes, "duration_ms", time.Since(start).Milliseconds())
}

// fallback ends the chain: the bridge handler answers a plain request on an
// endpoint with 426 Upgrade Required; anything else does not exist. Where
// files or scripts are served next to a COMMAND, whose endpoint is every
// path, a miss is a 404 as in websocketd (a 426 would hide every missing
// page), with the Upgrade header telling that the path takes a WebSocket.
// A GET on a prefix endpoint's path without its final "/" is redirected
// there, so that the page's relative URLs work.
func (rt *router) fallback(w http.ResponseWriter, r *http.Request) {
	table := rt.endpoints.Load()
	e := table.match(r.URL.Path)
	switch {
	case e == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && table.byPath(r.URL.Path+"/") != nil:
		target := &url.URL{Path: r.URL.Path + "/", RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, target.String(), http.StatusMovedPermanently)
	case e == nil && len(table.byLength) > 0:
		rt.nowhere.RefuseNoEndpoint(w, r)
	case e == nil || !e.isEndpoint(r):
		http.NotFound(w, r)
	case e.path == "/" && e.resolve == nil && rt.files:
		w.Header().Set("Upgrade", "websocket")
		http.NotFound(w, r)
	default:
		e.ws.ServeHTTP(w, r)
	}
}

// cleanRequestPath returns r's clean path and whether r's path differs
// from it. A path that is not absolute (CONNECT's, "*") is left alone.
func cleanRequestPath(r *http.Request) (string, bool) {
	if r.Method == http.MethodConnect || !strings.HasPrefix(r.URL.Path, "/") {
		return r.URL.Path, false
	}
	clean := bridge.CleanPath(r.URL.Path)
	return clean, clean != r.URL.Path
}

// redirectClean redirects a plain request to the clean path, query kept:
// 301 for GET and HEAD as net/http does, 308 for other methods, which keeps
// the method and body (a POST to a CGI script). The Location is
// path-absolute and escaped, so it cannot name another host ("//host",
// "/\host").
func redirectClean(w http.ResponseWriter, r *http.Request, clean string) {
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	target := &url.URL{Path: clean, RawQuery: r.URL.RawQuery}
	http.Redirect(w, r, target.String(), code)
}

// withPath is r for another URL path; the request line (REQUEST_URI) stays
// what the client sent.
func withPath(r *http.Request, p string) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2.URL = &u
	return r2
}

// statusWriter records the status and size of a plain HTTP response for the
// access log. Upgrades never go through it: the WebSocket needs the
// connection's own Hijacker.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the sendfile path of static files.
func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := io.Copy(s.ResponseWriter, r)
	s.bytes += n
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// redirectTo answers every plain request arriving on the --redirport port
// with a redirect to the same path and query on the main port, https with
// --ssl. GET and HEAD get 301; other methods 308, which keeps the method and
// body.
func redirectTo(scheme string, port int, redirPort int, next http.Handler) http.Handler {
	target := strconv.Itoa(redirPort)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil || localPort(r) != target {
			next.ServeHTTP(w, r)
			return
		}
		host, _ := bridge.SplitHostPort(r.Host)
		if host == "" {
			if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
				host, _ = bridge.SplitHostPort(la.String())
			}
		}
		hostport := net.JoinHostPort(host, strconv.Itoa(port))
		if (scheme == "https" && port == 443) || (scheme == "http" && port == 80) {
			hostport = host
			if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
				hostport = "[" + host + "]"
			}
		}
		code := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			code = http.StatusPermanentRedirect
		}
		http.Redirect(w, r, scheme+"://"+hostport+r.URL.RequestURI(), code)
	})
}

// localPort is the port of the listener r arrived on, "" on a unix socket.
func localPort(r *http.Request) string {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || la.Network() != "tcp" {
		return ""
	}
	_, port, err := net.SplitHostPort(la.String())
	if err != nil {
		return ""
	}
	return port
}
