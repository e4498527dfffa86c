package static

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"
)

// consolePage is the --devconsole page. It is served byte for byte as
// embedded: nothing of the request reaches it (websocketd pasted the request
// URL into its console page unescaped, a reflected XSS). The page finds its
// WebSocket URL in its own location and writes everything as text.
//
//go:embed devconsole/index.html
var consolePage []byte

// consoleFile is the page, under the headers that keep it alone: its own
// scripts only, in no frame, telling no referrer.
var consoleFile = func() *embeddedFile {
	h := http.Header{}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy(consolePage))
	h.Set("Referrer-Policy", "no-referrer")
	DenyFraming(h) // frame-ancestors joins the policy above
	headers := map[string]string{}
	for k := range h {
		headers[k] = h.Get(k)
	}
	return newEmbeddedFile("index.html", consolePage, headers)
}()

// DevConsole returns the handler serving the console page for GET and HEAD.
func DevConsole() http.Handler { return consoleFile }

// contentSecurityPolicy allows exactly the page's own inline script and
// style blocks, by hash, and WebSocket connections: even if text ever became
// markup, no other script would run.
func contentSecurityPolicy(page []byte) string {
	hashes := func(tag string) string {
		var out []string
		rest := string(page)
		open, end := "<"+tag+">", "</"+tag+">"
		for {
			i := strings.Index(rest, open)
			if i < 0 {
				break
			}
			rest = rest[i+len(open):]
			j := strings.Index(rest, end)
			if j < 0 {
				break
			}
			sum := sha256.Sum256([]byte(rest[:j]))
			out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
			rest = rest[j+len(end):]
		}
		if len(out) == 0 {
			return "'none'"
		}
		return strings.Join(out, " ")
	}
	return "default-src 'none'; script-src " + hashes("script") + "; style-src " + hashes("style") +
		"; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'"
}
