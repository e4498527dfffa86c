package server

import (
	"io"
	"net/http"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/static"
)

// denyFraming makes every plain HTTP response refuse to be framed by other
// sites (clickjacking), unless it states a framing policy of its own: error
// pages, the access token's redirect, the dev console and the terminal page
// (which insist on it themselves), static files, and CGI output that sets
// no X-Frame-Options or CSP frame-ancestors. The headers are settled when
// the response starts, so whatever the handlers set is seen. Upgrades pass
// untouched: a WebSocket is no page, and the session needs the
// connection's own Hijacker.
func denyFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bridge.IsUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		fw := &framingWriter{ResponseWriter: w}
		next.ServeHTTP(fw, r)
		fw.start() // a response with nothing written: net/http sends it now
	})
}

// framingWriter adds the framing headers just before the response starts.
type framingWriter struct {
	http.ResponseWriter
	started bool
}

func (f *framingWriter) start() {
	if !f.started {
		f.started = true
		static.DenyFramingUnlessSet(f.Header())
	}
}

func (f *framingWriter) WriteHeader(code int) {
	if code >= 200 { // 1xx (103 Early Hints) come before the handler's headers
		f.start()
	}
	f.ResponseWriter.WriteHeader(code)
}

func (f *framingWriter) Write(p []byte) (int, error) {
	f.start()
	return f.ResponseWriter.Write(p)
}

// ReadFrom keeps the sendfile path of static files.
func (f *framingWriter) ReadFrom(r io.Reader) (int64, error) {
	f.start()
	return io.Copy(f.ResponseWriter, r)
}

func (f *framingWriter) Unwrap() http.ResponseWriter { return f.ResponseWriter }
