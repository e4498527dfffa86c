package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// TestRedirectTo: a plain request on --redirport's port goes to the same
// path on the main port; the default port of the scheme is left out.
func TestRedirectTo(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	for _, tt := range []struct {
		scheme, host, method string
		port                 int
		code                 int
		want                 string
	}{
		{"https", "example.com:8080", "GET", 443, 301, "https://example.com/a?b=c"},
		{"https", "example.com:8080", "POST", 8443, 308, "https://example.com:8443/a?b=c"},
		{"http", "[::1]:8080", "GET", 80, 301, "http://[::1]/a?b=c"},
		{"http", "[::1]:8080", "GET", 9000, 301, "http://[::1]:9000/a?b=c"},
		{"http", "example.com", "HEAD", 9000, 301, "http://example.com:9000/a?b=c"},
		{"http", "", "GET", 9000, 301, "http://127.0.0.1:9000/a?b=c"},
	} {
		h := redirectTo(tt.scheme, tt.port, 8080, next)
		r := httptest.NewRequest(tt.method, "/a?b=c", nil)
		r.Host = tt.host
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.code || rec.Header().Get("Location") != tt.want {
			t.Errorf("%s %s %q: %d %q, want %d %q", tt.scheme, tt.method, tt.host, rec.Code, rec.Header().Get("Location"), tt.code, tt.want)
		}
	}
	// Another port: not redirected.
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}))
	rec := httptest.NewRecorder()
	redirectTo("http", 9000, 8080, next).ServeHTTP(rec, r)
	if rec.Code != 299 {
		t.Errorf("main port: %d, want the next handler's 299", rec.Code)
	}
}

// routerUnderTest is a router whose session handler answers plain requests
// with 426, as the bridge handler does, and upgrades with 299 and the path
// it saw.
func routerUnderTest(resolve func(*http.Request) (session.Endpoint, error)) *router {
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bridge.IsUpgrade(r) {
			w.Header().Set("Upgrade", "websocket")
			w.WriteHeader(http.StatusUpgradeRequired)
			return
		}
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(299)
	})
	log := slog.New(slog.DiscardHandler)
	root := &endpoint{path: "/", gate: &gate{resolve: resolve}, ws: ws}
	return newRouter(newEndpointTable([]*endpoint{root}), bridge.New(bridge.Options{Logger: log}), log)
}

func upgradeRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	return r
}

// TestRouterUncleanPath: a plain request on an unclean path is redirected
// to the clean one, query kept, 308 where the method must be kept; an
// upgrade reaches the session handler with the clean path.
func TestRouterUncleanPath(t *testing.T) {
	t.Parallel()
	rt := routerUnderTest(nil)
	for _, tt := range []struct {
		method, target string
		upgrade        bool
		code           int
		location, path string
	}{
		{method: "GET", target: "/sub/../hello.sh", code: 301, location: "/hello.sh"},
		{method: "HEAD", target: "//a//b/?x=1&y=%2F", code: 301, location: "/a/b/?x=1&y=%2F"},
		{method: "POST", target: "/sub/../post.cgi", code: 308, location: "/post.cgi"},
		{method: "GET", target: "/%2e%2e/%2e%2e/etc/passwd", code: 301, location: "/etc/passwd"},
		{method: "GET", target: "/x/../%5Cevil.example", code: 301, location: "/%5Cevil.example"},
		{method: "GET", target: "/x/..//evil.example", code: 301, location: "/evil.example"},
		{method: "GET", target: "/clean", code: 426},
		{method: "GET", target: "/sub/../chat", upgrade: true, code: 299, path: "/chat"},
		{method: "GET", target: "//chat/./room/", upgrade: true, code: 299, path: "/chat/room/"},
		{method: "GET", target: "/chat", upgrade: true, code: 299, path: "/chat"},
	} {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if tt.upgrade {
			r = upgradeRequest(tt.method, tt.target)
		}
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, r)
		if rec.Code != tt.code || rec.Header().Get("Location") != tt.location || rec.Header().Get("X-Path") != tt.path {
			t.Errorf("%s %s (upgrade %v): %d Location %q path %q, want %d %q %q", tt.method, tt.target, tt.upgrade,
				rec.Code, rec.Header().Get("Location"), rec.Header().Get("X-Path"), tt.code, tt.location, tt.path)
		}
	}
}

// TestRouterFallback: what a plain request nothing else answered gets.
func TestRouterFallback(t *testing.T) {
	t.Parallel()
	dir := func(r *http.Request) (session.Endpoint, error) {
		if r.URL.Path == "/chat.sh" {
			return session.Endpoint{}, nil
		}
		return session.Endpoint{}, session.ErrNoEndpoint
	}
	for _, tt := range []struct {
		name    string
		resolve func(*http.Request) (session.Endpoint, error)
		files   bool
		path    string
		code    int
		hint    bool
	}{
		{"command alone", nil, false, "/missing.html", 426, true},
		{"command beside files", nil, true, "/missing.html", 404, true},
		{"dir, a script", dir, false, "/chat.sh", 426, true},
		{"dir beside files, a script", dir, true, "/chat.sh", 426, true},
		{"dir beside files, a miss", dir, true, "/missing.html", 404, false},
		{"dir, a miss", dir, false, "/missing.html", 404, false},
	} {
		rt := routerUnderTest(tt.resolve)
		rt.files = tt.files
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.code || (rec.Header().Get("Upgrade") == "websocket") != tt.hint {
			t.Errorf("%s: GET %s: %d Upgrade %q, want %d (hint %v)", tt.name, tt.path, rec.Code, rec.Header().Get("Upgrade"), tt.code, tt.hint)
		}
	}
}

// TestEndpointTableMatch: an exact path, or the longest prefix ending in
// "/"; the catch-all "/" matches what no other does.
func TestEndpointTableMatch(t *testing.T) {
	t.Parallel()
	table := func(paths ...string) *endpointTable {
		var eps []*endpoint
		for _, p := range paths {
			eps = append(eps, &endpoint{path: p})
		}
		return newEndpointTable(eps)
	}
	withRoot := table("/echo", "/a/", "/a/b/", "/", "/a/b")
	noRoot := table("/echo", "/a/", "/a/b/")
	for _, tt := range []struct {
		table *endpointTable
		path  string
		want  string // "": no match
	}{
		{withRoot, "/echo", "/echo"},
		{withRoot, "/echo/x", "/"},
		{withRoot, "/echox", "/"},
		{withRoot, "/a/", "/a/"},
		{withRoot, "/a/x", "/a/"},
		{withRoot, "/a/b", "/a/b"},
		{withRoot, "/a/b/", "/a/b/"},
		{withRoot, "/a/b/c/d", "/a/b/"},
		{withRoot, "/a", "/"},
		{noRoot, "/a", ""},
		{noRoot, "/echo/", ""},
		{noRoot, "/", ""},
		{noRoot, "/a/b", "/a/"},
	} {
		got := ""
		if e := tt.table.match(tt.path); e != nil {
			got = e.path
		}
		if got != tt.want {
			t.Errorf("match(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
