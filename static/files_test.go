package static_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/static"
)

// site makes a static folder with traps: dotfiles, a folder without index,
// links out of the folder and a nested CGI folder.
func site(t *testing.T) (dir, cgi string) {
	t.Helper()
	top := t.TempDir()
	dir = filepath.Join(top, "www")
	files := map[string]string{
		"index.html":          "<h1>home</h1>",
		"app.js":              "console.log(1)",
		"style.css":           "body{}",
		"data.json":           `{"a":1}`,
		"big.txt":             "0123456789abcdefghij",
		"docs/index.html":     "<p>docs</p>",
		"nolist/file.txt":     "x",
		".env":                "SECRET=1",
		".git/config":         "[core]",
		"sub/.hidden":         "h",
		"cgi-bin/run.cgi":     "#!/bin/sh\necho source\n",
		"cgi-bin/index.html":  "cgi index",
		"../outside.txt":      "outside",
		"../other/index.html": "other",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"out.txt":      "../outside.txt",
		"abs.txt":      filepath.Join(top, "outside.txt"),
		"otherdir":     "../other",
		"in.txt":       "big.txt",
		"cgi-link.cgi": "cgi-bin/run.cgi",
		// Absolute links: followed when they land inside the folder.
		"abs-in.txt":        filepath.Join(dir, "big.txt"),
		"abs-docs":          filepath.Join(dir, "docs"),
		"docs/abs-back.txt": filepath.Join(dir, "big.txt"),
		"abs-env.txt":       filepath.Join(dir, ".env"),
		"rel-env.txt":       ".env",
		"abs-cgi.txt":       filepath.Join(dir, "cgi-bin", "run.cgi"),
		"abs-up":            top,
		"abs-loop.txt":      filepath.Join(dir, "abs-loop.txt"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "cgi-bin")
}

func TestFileServer(t *testing.T) {
	t.Parallel()
	dir, cgi := site(t)
	fs, err := static.NewFileServer(dir, static.Options{Exclude: []string{cgi}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })

	tests := []struct {
		method, path string
		header       map[string]string
		status       int
		body         string // prefix; "" skips
		ctype        string // prefix; "" skips
		location     string
	}{
		{path: "/", status: 200, body: "<h1>home</h1>", ctype: "text/html"},
		{path: "/index.html", status: 200, body: "<h1>home</h1>"},
		{path: "/app.js", status: 200, ctype: "text/javascript"},
		{path: "/style.css", status: 200, ctype: "text/css"},
		{path: "/data.json", status: 200, ctype: "application/json"},
		{path: "/docs/", status: 200, body: "<p>docs</p>"},
		{path: "/docs", status: 301, location: "docs/"},
		{path: "/docs?q=1", status: 301, location: "docs/?q=1"},
		{path: "/nolist/", status: 404},
		{path: "/missing", status: 404},
		{path: "/.env", status: 404},
		{path: "/.git/config", status: 404},
		{path: "/sub/.hidden", status: 404},
		{path: "/%2e%2e/outside.txt", status: 404},
		{path: "/docs/../../outside.txt", status: 404},
		{path: "/out.txt", status: 404},
		{path: "/abs.txt", status: 404},
		{path: "/otherdir/", status: 404},
		{path: "/in.txt", status: 200, body: "0123456789"},
		{path: "/cgi-bin/run.cgi", status: 404},
		{path: "/cgi-bin/", status: 404},
		{path: "/cgi-link.cgi", status: 404},
		{path: "/abs-in.txt", status: 200, body: "0123456789"},
		{path: "/abs-docs/", status: 200, body: "<p>docs</p>"},
		{path: "/abs-docs", status: 301, location: "abs-docs/"},
		{path: "/docs/abs-back.txt", status: 200, body: "0123456789"},
		{path: "/abs-env.txt", status: 404},        // a dotfile by another name
		{path: "/rel-env.txt", status: 404},        // likewise
		{path: "/abs-cgi.txt", status: 404},        // a script's source
		{path: "/abs-up/outside.txt", status: 404}, // lands outside
		{path: "/abs-up/www/big.txt", status: 404}, // leaves, then comes back
		{path: "/abs-loop.txt", status: 404},
		{path: "/big.txt", header: map[string]string{"Range": "bytes=10-14"}, status: 206, body: "abcde"},
		{method: "HEAD", path: "/big.txt", status: 200},
		{method: "POST", path: "/big.txt", status: 405},
		{method: "POST", path: "/missing", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := httptest.NewRequest(method, tt.path, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			fs.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (%q)", w.Code, tt.status, w.Body.String())
			}
			if !strings.HasPrefix(w.Body.String(), tt.body) {
				t.Errorf("body %q, want %q", w.Body.String(), tt.body)
			}
			if got := w.Header().Get("Content-Type"); !strings.HasPrefix(got, tt.ctype) {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := w.Header().Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
		})
	}
}

func TestFileServerValidators(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir, _ := site(t)
	fs, err := static.NewFileServer(dir, static.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	srv := httptest.NewServer(fs)
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	res, err := http.Get(srv.URL + "/big.txt")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	etag, lastMod := res.Header.Get("ETag"), res.Header.Get("Last-Modified")
	if etag == "" || lastMod == "" || strings.HasPrefix(etag, "W/") {
		t.Fatalf("ETag %q Last-Modified %q", etag, lastMod)
	}
	for _, h := range [][2]string{{"If-None-Match", etag}, {"If-Modified-Since", lastMod}} {
		req, _ := http.NewRequest("GET", srv.URL+"/big.txt", nil)
		req.Header.Set(h[0], h[1])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s: status %d, want 304", h[0], res.StatusCode)
		}
	}
	// If-Range with the strong ETag keeps the range.
	req, _ := http.NewRequest("GET", srv.URL+"/big.txt", nil)
	req.Header.Set("Range", "bytes=0-1")
	req.Header.Set("If-Range", etag)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || string(body) != "01" {
		t.Errorf("If-Range: %d %q", res.StatusCode, body)
	}
}

// TestFileServerHideExecutables: a folder of WebSocket endpoints (--dir)
// may share its folder with the pages; its programs are not served.
func TestFileServerHideExecutables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("page"), 0o644)
	os.WriteFile(filepath.Join(dir, "chat.sh"), []byte("#!/bin/sh\necho secret\n"), 0o755)
	os.Symlink("chat.sh", filepath.Join(dir, "link.txt"))
	fs, err := static.NewFileServer(dir, static.Options{HideExecutables: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	for path, want := range map[string]int{"/": 200, "/index.html": 200, "/chat.sh": 404, "/link.txt": 404} {
		w := httptest.NewRecorder()
		fs.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", path, w.Code, want)
		}
	}
}

func TestFileServerNotFoundHandler(t *testing.T) {
	t.Parallel()
	dir, _ := site(t)
	fs, err := static.NewFileServer(dir, static.Options{NotFound: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	for _, p := range []string{"/missing", "/.env", "/nolist/"} {
		w := httptest.NewRecorder()
		fs.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		if w.Code != http.StatusTeapot {
			t.Errorf("%s: %d, want the fallback", p, w.Code)
		}
	}
}

func TestNewFileServerErrors(t *testing.T) {
	t.Parallel()
	dir, _ := site(t)
	if _, err := static.NewFileServer(filepath.Join(dir, "missing"), static.Options{}); err == nil {
		t.Error("missing folder: no error")
	}
	if _, err := static.NewFileServer(filepath.Join(dir, "index.html"), static.Options{}); err == nil {
		t.Error("file as folder: no error")
	}
	if _, err := static.NewFileServer(filepath.Join(dir, "docs"), static.Options{Exclude: []string{dir}}); err == nil {
		t.Error("folder inside an excluded one: no error")
	}
}
