package static

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// broadcastClient is the browser helper for broadcast endpoints: it speaks
// the subprotocol wsbridge.broadcast.v1 and resumes after a dropped
// connection. Served as embedded, with no dependency, for pages to load
// with <script src="/.wsbridge/broadcast.js">.
//
//go:embed broadcast/broadcast.js
var broadcastClient []byte

// BroadcastClientPath is where the daemon serves the helper under
// --broadcast: a dot path, which no --staticdir file can take (dotfiles are
// not served) and no sensible endpoint uses.
const BroadcastClientPath = "/.wsbridge/broadcast.js"

var (
	broadcastETag = func() string {
		sum := sha256.Sum256(broadcastClient)
		return `"` + hex.EncodeToString(sum[:8]) + `"`
	}()
	broadcastTime = time.Now()
)

// BroadcastClient serves the helper for GET and HEAD.
func BroadcastClient() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", broadcastETag)
		http.ServeContent(w, r, "broadcast.js", broadcastTime, bytes.NewReader(broadcastClient))
	})
}
