package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// makeSite makes a --staticdir with a --cgidir nested in it, and traps.
func makeSite(t *testing.T) (www, cgi string) {
	t.Helper()
	top := t.TempDir()
	www = filepath.Join(top, "www")
	cgi = filepath.Join(www, "cgi-bin")
	writeFile(t, filepath.Join(www, "index.html"), "<h1>home</h1>\n", 0o644)
	writeFile(t, filepath.Join(www, "app.js"), "console.log('hi')\n", 0o644)
	writeFile(t, filepath.Join(www, "docs", "index.html"), "<p>docs</p>\n", 0o644)
	writeFile(t, filepath.Join(www, "nolist", "a.txt"), "a\n", 0o644)
	writeFile(t, filepath.Join(www, "big.txt"), "0123456789abcdefghij", 0o644)
	writeFile(t, filepath.Join(www, ".env"), "SECRET=1\n", 0o644)
	writeFile(t, filepath.Join(www, ".git", "config"), "[core]\n", 0o644)
	writeFile(t, filepath.Join(top, "outside.txt"), "outside\n", 0o644)
	if err := os.Symlink("../outside.txt", filepath.Join(www, "out.txt")); err != nil {
		t.Fatal(err)
	}
	writeScript(t, filepath.Join(cgi, "hello.cgi"), `printf 'Content-Type: text/plain\r\nX-Script: hello\r\n\r\n'
echo "hello from CGI"
env | sort
`)
	writeScript(t, filepath.Join(cgi, "slow.cgi"), `printf 'Content-Type: text/plain\r\n\r\n'
sleep 1
echo done
`)
	writeScript(t, filepath.Join(cgi, "post.cgi"), `printf 'Status: 201 Created\r\nContent-Type: text/plain\r\n\r\n'
cat
`)
	return www, cgi
}

func TestHTTPStatic(t *testing.T) {
	t.Parallel()
	www, cgi := makeSite(t)
	s := startServer(t, "--staticdir="+www, "--cgidir="+cgi, "cat")
	tests := []struct {
		path   string
		header http.Header
		status int
		body   string
		ctype  string
	}{
		{path: "/", status: 200, body: "<h1>home</h1>\n", ctype: "text/html"},
		{path: "/app.js", status: 200, body: "console.log('hi')\n", ctype: "text/javascript"},
		{path: "/docs/", status: 200, body: "<p>docs</p>\n"},
		{path: "/docs", status: 301},
		{path: "/big.txt", header: http.Header{"Range": {"bytes=5-9"}}, status: 206, body: "56789"},
		{path: "/nolist/", status: 426}, // no listing; the command answers
		{path: "/.env", status: 426},
		{path: "/.git/config", status: 426},
		{path: "/out.txt", status: 426},
		{path: "/%2e%2e/outside.txt", status: 426},
		{path: "/cgi-bin/hello.cgi", status: 426}, // never the source
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			res, body := httpRequest(t, nil, "GET", s.HTTPURL(tt.path), tt.header)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %q", res.StatusCode, tt.status, body)
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if !strings.HasPrefix(res.Header.Get("Content-Type"), tt.ctype) {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.ctype)
			}
			if strings.Contains(body, "SECRET") || strings.Contains(body, "outside") || strings.Contains(body, "printf") {
				t.Errorf("leaked: %q", body)
			}
			if tt.status == 200 && (res.Header.Get("ETag") == "" || res.Header.Get("Last-Modified") == "") {
				t.Errorf("no validators: %v", res.Header)
			}
		})
	}
	// Conditional request.
	res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/app.js"), nil)
	res2, _ := httpRequest(t, nil, "GET", s.HTTPURL("/app.js"), http.Header{"If-None-Match": {res.Header.Get("ETag")}})
	if res2.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", res2.StatusCode)
	}
	// The upgrade still goes to the command, whatever file the path names.
	expectEcho(t, dialOpts(t, s.URL("/index.html"), nil), "ws wins")
}

func TestHTTPStaticWithDir(t *testing.T) {
	t.Parallel()
	www, _ := makeSite(t)
	wsDir := filepath.Join(www, "ws")
	writeScript(t, filepath.Join(wsDir, "cat.sh"), "exec cat\n")
	s := startServer(t, "--staticdir="+www, "--dir="+wsDir)
	if res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/missing"), nil); res.StatusCode != 404 {
		t.Errorf("GET /missing: %d, want 404", res.StatusCode)
	}
	// The --dir scripts nested in --staticdir are not served as files.
	if res, body := httpRequest(t, nil, "GET", s.HTTPURL("/ws/cat.sh"), nil); res.StatusCode != 404 || strings.Contains(body, "cat") {
		t.Errorf("GET /ws/cat.sh: %d %q, want 404", res.StatusCode, body)
	}
	if res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), nil); res.StatusCode != 200 {
		t.Errorf("GET /: %d", res.StatusCode)
	}
	expectEcho(t, dialOpts(t, s.URL("/cat.sh"), nil), "dir")
}

// TestHTTPStaticSameFolderAsDir: pages and their WebSocket scripts side by
// side in one folder, websocketd style; the scripts' source is not served.
func TestHTTPStaticSameFolderAsDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "index.html"), "<p>chat</p>", 0o644)
	writeScript(t, filepath.Join(dir, "chat.sh"), "exec cat\n")
	s := startServer(t, "--staticdir="+dir, "--dir="+dir)
	if res, body := httpRequest(t, nil, "GET", s.HTTPURL("/"), nil); res.StatusCode != 200 || body != "<p>chat</p>" {
		t.Errorf("GET /: %d %q", res.StatusCode, body)
	}
	if res, body := httpRequest(t, nil, "GET", s.HTTPURL("/chat.sh"), nil); res.StatusCode != http.StatusUpgradeRequired || strings.Contains(body, "exec cat") {
		t.Errorf("GET /chat.sh: %d %q, want 426 and no source", res.StatusCode, body)
	}
	expectEcho(t, dialOpts(t, s.URL("/chat.sh"), nil), "side by side")
}

func TestHTTPCGI(t *testing.T) {
	t.Parallel()
	www, cgi := makeSite(t)
	s := startServer(t, "--staticdir="+www, "--cgidir="+cgi, "--passenv=", "cat")

	res, body := httpRequest(t, nil, "GET", s.HTTPURL("/hello.cgi/extra/path?a=b"), http.Header{
		"Proxy":    {"http://evil.example:3128"},
		"X-Custom": {"yes"},
	})
	if res.StatusCode != 200 || res.Header.Get("X-Script") != "hello" || !strings.HasPrefix(body, "hello from CGI\n") {
		t.Fatalf("CGI: %d %v %q", res.StatusCode, res.Header, body)
	}
	env := parseEnv(strings.Split(body, "\n"))
	want := map[string]string{
		"SCRIPT_NAME":     "/hello.cgi",
		"PATH_INFO":       "/extra/path",
		"QUERY_STRING":    "a=b",
		"REQUEST_METHOD":  "GET",
		"HTTP_X_CUSTOM":   "yes",
		"SERVER_SOFTWARE": env["SERVER_SOFTWARE"],
		"LD_LIBRARY_PATH": "",
		"PATH":            "/usr/local/bin:/usr/bin:/bin", // not the daemon's: --passenv is empty
	}
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s=%q (set %v), want %q", k, got, ok, v)
		}
	}
	if !strings.HasPrefix(env["SERVER_SOFTWARE"], "wsbridge/") {
		t.Errorf("SERVER_SOFTWARE=%q", env["SERVER_SOFTWARE"])
	}
	if _, ok := env["HTTP_PROXY"]; ok {
		t.Error("httpoxy: the Proxy header became HTTP_PROXY")
	}
	if _, ok := env["HOME"]; ok {
		t.Error("HOME leaked from the daemon's environment")
	}

	// POST body reaches the script; Status: is honoured.
	req, _ := http.NewRequest("POST", s.HTTPURL("/post.cgi"), strings.NewReader("posted body"))
	pres, err := httpClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pres.Body.Close()
	if pres.StatusCode != http.StatusCreated {
		t.Errorf("POST: %d, want 201", pres.StatusCode)
	}
}

func TestHTTPCGIMaxForks(t *testing.T) {
	t.Parallel()
	www, cgi := makeSite(t)
	s := startServer(t, "--staticdir="+www, "--cgidir="+cgi, "--maxforks=1", "cat")

	var wg sync.WaitGroup
	wg.Add(1)
	var slowStatus int
	go func() {
		defer wg.Done()
		res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/slow.cgi"), nil)
		slowStatus = res.StatusCode
	}()
	// While the slow script runs it holds the only slot: CGI and WebSocket
	// alike are refused.
	s.waitLog(t, 5*time.Second, "path=/slow.cgi")
	if res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/hello.cgi"), nil); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second CGI: %d, want 429", res.StatusCode)
	}
	if got := dialStatus(t, s.URL("/"), nil); got != http.StatusTooManyRequests {
		t.Errorf("upgrade during CGI: %d, want 429", got)
	}
	wg.Wait()
	if slowStatus != 200 {
		t.Errorf("slow CGI: %d", slowStatus)
	}
	// The slot is back.
	if res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/hello.cgi"), nil); res.StatusCode != 200 {
		t.Errorf("CGI after: %d", res.StatusCode)
	}
}
