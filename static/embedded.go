package static

import (
	"bytes"
	"net/http"
	"time"
)

// embeddedFile serves one file built into the binary, byte for byte, for
// GET and HEAD: with an ETag of its content and, as Last-Modified, the
// daemon's start, so a browser revalidates (no-cache) and gets 304 until
// the binary changes.
type embeddedFile struct {
	name    string // for http.ServeContent's range and type logic
	content []byte
	etag    string
	headers map[string]string // set on every answer
}

// startTime is the Last-Modified of every embedded file.
var startTime = time.Now()

func newEmbeddedFile(name string, content []byte, headers map[string]string) *embeddedFile {
	return &embeddedFile{name: name, content: content, etag: contentETag(content), headers: headers}
}

func (f *embeddedFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	for k, v := range f.headers {
		h.Set(k, v)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, startTime, bytes.NewReader(f.content))
}
