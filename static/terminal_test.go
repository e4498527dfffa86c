package static_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wsbridge/wsbridge/static"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// builtFS is dist as the build makes it, from the real page template and
// stand-in bundles, so the page logic is tested even without npm.
func builtFS(t *testing.T) fs.FS {
	t.Helper()
	page, err := os.ReadFile("terminal/src/index.html")
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{
		"index.html":    {Data: page},
		"terminal.js":   {Data: []byte(strings.Repeat("console.log('x');\n", 100))},
		"terminal.css":  {Data: []byte("body{margin:0}\n")},
		"NOT_BUILT.txt": {Data: []byte("x")},
	}
}

func TestTerminalNotBuilt(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fs.FS{
		"empty":       fstest.MapFS{"NOT_BUILT.txt": {Data: []byte("x")}},
		"no bundle":   fstest.MapFS{"index.html": {Data: []byte("<p>hi</p>")}},
		"bundle only": fstest.MapFS{"terminal.js": {Data: []byte("x")}, "terminal.css": {Data: []byte("x")}},
	} {
		h := static.NewTerminalFS(fsys, static.TerminalPageOptions{})
		for _, target := range []string{"/shell", "/shell?asset=terminal.js"} {
			res, body := get(t, h, "GET", target, nil)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s %s: status %d, want 503", name, target, res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("%s %s: Content-Type %q", name, target, ct)
			}
			if !strings.Contains(body, "terminal assets not built: run <code>npm ci --prefix static &amp;&amp; npm run build --prefix static</code>, then rebuild wsbridge") {
				t.Errorf("%s %s: body lacks the build instructions:\n%s", name, target, body)
			}
		}
	}
}

// configOf extracts and decodes the page's JSON config element.
func configOf(t *testing.T, body string) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="wsbridge-config">(.*?)</script>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no config element in:\n%s", body)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("config %q: %v", m[1], err)
	}
	return cfg
}

func TestTerminalPage(t *testing.T) {
	t.Parallel()
	h := static.NewTerminalFS(builtFS(t), static.TerminalPageOptions{
		Title:         "bash on host",
		ClientOptions: map[string]string{"fontSize": "16", "theme": `{"background":"#123"}`},
	})
	for target, want := range map[string]string{
		"/shell":                     "./shell?asset=",
		"/shell?arg=foo":             "./shell?asset=",
		"/a/b/shell/":                "./?asset=",
		"/":                          "./?asset=",
		"/with%20space":              "./with%20space?asset=",
		"/x/caf%C3%A9":               "./caf%C3%A9?asset=",
		"/odd%2Fslash?session=s&x=1": "./odd%2Fslash?asset=",
	} {
		res, body := get(t, h, "GET", target, nil)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: status %d\n%s", target, res.StatusCode, body)
		}
		if !strings.Contains(body, `src="`+want+`terminal.js"`) || !strings.Contains(body, `href="`+want+`terminal.css"`) {
			t.Errorf("GET %s: asset URLs not %q...:\n%s", target, want, body)
		}
	}
	res, body := get(t, h, "GET", "/shell", nil)
	for k, want := range map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("no CSP limiting scripts: %q", res.Header.Get("Content-Security-Policy"))
	}
	if !strings.Contains(body, "<title>bash on host</title>") {
		t.Errorf("title missing:\n%s", body)
	}
	cfg := configOf(t, body)
	if cfg["title"] != "bash on host" || cfg["clientOptions"].(map[string]any)["theme"] != `{"background":"#123"}` {
		t.Errorf("config %v", cfg)
	}

	// Conditional GET: the ETag revalidates to 304.
	tag := res.Header.Get("ETag")
	if tag == "" {
		t.Fatal("no ETag on the page")
	}
	if res, _ := get(t, h, "GET", "/shell", map[string]string{"If-None-Match": tag}); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
	}
	if res, body := get(t, h, "HEAD", "/shell", nil); res.StatusCode != 200 || body != "" {
		t.Errorf("HEAD: status %d, body %q", res.StatusCode, body)
	}
	if res, _ := get(t, h, "POST", "/shell", nil); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

func TestTerminalPageEscaping(t *testing.T) {
	t.Parallel()
	evil := `</script><script>alert(1)</script><!--&"'`
	h := static.NewTerminalFS(builtFS(t), static.TerminalPageOptions{
		Title:         evil,
		ClientOptions: map[string]string{"fontFamily": evil, evil: "x"},
	})
	res, body := get(t, h, "GET", `/x/%22%3E%3Cscript%3Ealert(2)%3C%2Fscript%3E?q=</script><script>alert(3)</script>`, nil)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if n := strings.Count(body, "<script"); n != 2 {
		t.Errorf("%d <script elements, want 2 (config and bundle):\n%s", n, body)
	}
	for _, bad := range []string{"alert(1)</script>", "<!--&", "alert(3)", `"><script`} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q unescaped:\n%s", bad, body)
		}
	}
	cfg := configOf(t, body)
	if cfg["title"] != evil || cfg["clientOptions"].(map[string]any)["fontFamily"] != evil {
		t.Errorf("config did not round-trip: %v", cfg)
	}
}

func TestTerminalAssets(t *testing.T) {
	t.Parallel()
	h := static.NewTerminalFS(builtFS(t), static.TerminalPageOptions{})
	for name, ctype := range map[string]string{
		"terminal.js":  "text/javascript; charset=utf-8",
		"terminal.css": "text/css; charset=utf-8",
	} {
		target := "/any/path?asset=" + name
		res, body := get(t, h, "GET", target, nil)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ctype || res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: status %d, headers %v", name, res.StatusCode, res.Header)
		}
		tag := res.Header.Get("ETag")
		if tag == "" || res.Header.Get("Content-Encoding") != "" || body == "" {
			t.Errorf("%s: ETag %q, Content-Encoding %q, %d bytes", name, tag, res.Header.Get("Content-Encoding"), len(body))
		}
		if res, _ := get(t, h, "GET", target, map[string]string{"If-None-Match": tag}); res.StatusCode != http.StatusNotModified {
			t.Errorf("%s If-None-Match: status %d", name, res.StatusCode)
		}

		res, zbody := get(t, h, "GET", target, map[string]string{"Accept-Encoding": "br, gzip"})
		if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("ETag") == tag || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("%s gzip: headers %v", name, res.Header)
		}
		zr, err := gzip.NewReader(strings.NewReader(zbody))
		if err != nil {
			t.Fatal(err)
		}
		if plain, _ := io.ReadAll(zr); string(plain) != body {
			t.Errorf("%s: gzip body differs from plain", name)
		}
	}
	if res, _ := get(t, h, "GET", "/shell?asset=../index.html", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: status %d, want 404", res.StatusCode)
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=0.5": true, "GZIP": true, "gzip;q=0": false,
		"gzip; q=0.0": false, "br": false, "x-gzip": false, "gzip;q=bogus": false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", h)
		if got := static.AcceptsGzip(r); got != want {
			t.Errorf("Accept-Encoding %q: %v, want %v", h, got, want)
		}
	}
}

// TestTerminalEmbedded checks the assets compiled into the binary: the
// built page is committed, so a plain `go build` serves it, never the 503.
func TestTerminalEmbedded(t *testing.T) {
	t.Parallel()
	h := static.Terminal(static.TerminalPageOptions{Title: "t"})
	res, body := get(t, h, "GET", "/shell", nil)
	if res.StatusCode != 200 || !strings.Contains(body, `src="./shell?asset=terminal.js"`) {
		t.Fatalf("page: status %d\n%s", res.StatusCode, body)
	}
	configOf(t, body)
	for _, a := range []string{"terminal.js", "terminal.css"} {
		res, body := get(t, h, "GET", "/shell?asset="+a, nil)
		if res.StatusCode != 200 || len(body) < 1000 || !strings.Contains(body, "xterm.js authors") {
			t.Errorf("%s: status %d, %d bytes, licence banner present: %v", a, res.StatusCode, len(body), strings.Contains(body, "xterm.js authors"))
		}
	}
}
