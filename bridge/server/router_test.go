package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
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
