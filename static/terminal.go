// Package static holds wsbridge's embedded web assets and file serving.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// dist is the built browser terminal (npm run build --prefix static). It is
// committed, so a plain `go build` or `go install` has the page; .ci/run
// checks that it is what the sources build to.
//
//go:embed terminal/dist
var dist embed.FS

// TerminalPageOptions configure the browser terminal page.
type TerminalPageOptions struct {
	// Title is the page title until the program sets one; empty: "wsbridge".
	Title string
	// ClientOptions tune the page's terminal: fontSize, fontFamily, theme
	// (a JSON object), cursorBlink, scrollback, renderer ("webgl" or "dom").
	ClientOptions map[string]string
}

// The page config, read by main.js from <script id="wsbridge-config">.
type pageConfig struct {
	Title         string            `json:"title"`
	ClientOptions map[string]string `json:"clientOptions"`
}

// asset is one embedded file, with a gzip copy made once at start.
type asset struct {
	contentType  string
	plain, gz    []byte
	etag, gzETag string
}

type terminalHandler struct {
	page    *template.Template
	config  pageConfig
	assets  map[string]*asset // by ?asset= name
	problem string            // why the page cannot be served, or ""
	csp     string            // the page's Content-Security-Policy
}

// pageCSP is the page's Content-Security-Policy: scripts only from this
// server; xterm.js adds <style> elements itself. With images on,
// 'wasm-unsafe-eval' lets the image addon compile its sixel decoder
// (WebAssembly inside the bundle); it allows no JavaScript eval.
func pageCSP(clientOptions map[string]string) string {
	script := "'self'"
	switch strings.ToLower(strings.TrimSpace(clientOptions["images"])) {
	case "true", "1", "yes", "on":
		script += " 'wasm-unsafe-eval'"
	}
	return "default-src 'self'; script-src " + script + "; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'"
}

// notBuiltHelp is what a daemon built from a tree whose terminal/dist lacks
// a file answers (a rebuild of the page that failed half way); the command
// is shown as code on the 503 page.
const (
	buildCommand = "npm ci --prefix static && npm run build --prefix static"
	notBuiltHelp = "terminal assets not built: run `" + buildCommand + "`, then rebuild wsbridge"
)

// Terminal serves the browser terminal page at whatever path it is mounted
// on: a plain GET gets index.html, and "?asset=terminal.js" or
// "?asset=terminal.css" on the same path get the bundle. WebSocket upgrades
// on that path must be routed to the session handler before this one.
func Terminal(opts TerminalPageOptions) http.Handler {
	sub, err := fs.Sub(dist, "terminal/dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return newTerminal(sub, opts)
}

func newTerminal(fsys fs.FS, opts TerminalPageOptions) http.Handler {
	h := &terminalHandler{config: pageConfig{Title: opts.Title, ClientOptions: opts.ClientOptions}, assets: map[string]*asset{},
		csp: pageCSP(opts.ClientOptions)}
	if h.config.Title == "" {
		h.config.Title = "wsbridge"
	}
	src, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		h.problem = notBuiltHelp
		return h
	}
	if h.page, err = template.New("index.html").Parse(string(src)); err != nil {
		h.problem = "terminal page template: " + err.Error()
		return h
	}
	for name, ctype := range map[string]string{
		"terminal.js":  "text/javascript; charset=utf-8",
		"terminal.css": "text/css; charset=utf-8",
	} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			h.problem = notBuiltHelp
			return h
		}
		h.assets[name] = newAsset(ctype, b)
	}
	return h
}

func newAsset(contentType string, b []byte) *asset {
	a := &asset{contentType: contentType, plain: b, etag: contentETag(b)}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	a.gz, a.gzETag = buf.Bytes(), contentETag(buf.Bytes())
	return a
}

func contentETag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func (h *terminalHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	// Never framed: the 503 page and the errors neither.
	DenyFraming(hdr)
	hdr.Set("Cache-Control", "no-cache") // revalidate: the ETag makes it cheap
	hdr.Set("X-Content-Type-Options", "nosniff")
	if h.problem != "" {
		h.unavailable(w)
		return
	}
	name := r.URL.Query().Get("asset")
	if name == "" {
		h.servePage(w, r)
		return
	}
	a, ok := h.assets[name]
	if !ok {
		http.Error(w, "no such asset", http.StatusNotFound)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Add("Vary", "Accept-Encoding")
	body, tag := a.plain, a.etag
	if acceptsGzip(r) {
		body, tag = a.gz, a.gzETag
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("ETag", tag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// servePage renders index.html for this request: only the path's last
// segment (already escaped) comes from the request, and html/template
// escapes it again for the attribute.
func (h *terminalHandler) servePage(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	base := "./" + path[strings.LastIndexByte(path, '/')+1:]
	var buf bytes.Buffer
	err := h.page.Execute(&buf, struct {
		Title   string
		CSS, JS string
		Config  pageConfig // JSON-encoded, with <, > and & as \u escapes
	}{h.config.Title, base + "?asset=terminal.css", base + "?asset=terminal.js", h.config})
	if err != nil {
		http.Error(w, "terminal page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", h.csp)
	DenyFraming(hdr) // a writable shell under another site's buttons
	hdr.Set("ETag", contentETag(buf.Bytes()))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(buf.Bytes()))
}

func (h *terminalHandler) unavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	msg := template.HTMLEscapeString(h.problem)
	if h.problem == notBuiltHelp {
		msg = strings.Replace(msg, "`"+template.HTMLEscapeString(buildCommand)+"`",
			"<code>"+template.HTMLEscapeString(buildCommand)+"</code>", 1)
	}
	w.Write([]byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>wsbridge: terminal unavailable</title></head>\n" +
		"<body><h1>Terminal unavailable</h1>\n<p>" + msg + "</p></body></html>\n"))
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		name, q, found := strings.Cut(strings.TrimSpace(params), "=")
		if !found || strings.TrimSpace(name) != "q" {
			return true
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
		return err == nil && v > 0
	}
	return false
}
