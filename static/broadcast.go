package static

import (
	_ "embed"
	"net/http"
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

var broadcastFile = newEmbeddedFile("broadcast.js", broadcastClient, map[string]string{
	"Content-Type": "text/javascript; charset=utf-8",
})

// BroadcastClient serves the helper for GET and HEAD.
func BroadcastClient() http.Handler { return broadcastFile }
