package bridge_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/bridge"
)

func TestCGI(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nenv\necho oops >&2\n"
	if err := os.WriteFile(filepath.Join(dir, "env.cgi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "data.txt"), []byte("x"), 0o644)
	d, err := bridge.OpenScriptDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Setenv("WSBRIDGE_TEST_SECRET", "daemon-only")
	t.Setenv("WSBRIDGE_TEST_PASSED", "passed-on")
	h := bridge.New(bridge.Options{PassEnv: []string{"WSBRIDGE_TEST_PASSED"}, ServerSoftware: "wsbridge/test"})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	cgi := h.CGI(d, next)

	tests := []struct {
		path   string
		status int
		env    map[string]string
	}{
		{"/env.cgi/more?q=1", 200, map[string]string{
			"SCRIPT_NAME":          "/env.cgi",
			"PATH_INFO":            "/more",
			"QUERY_STRING":         "q=1",
			"REMOTE_USER":          "bob",
			"SERVER_SOFTWARE":      "wsbridge/test",
			"WSBRIDGE_TEST_PASSED": "passed-on",
			"PATH":                 "/usr/local/bin:/usr/bin:/bin",
		}},
		{"/data.txt", http.StatusTeapot, nil},
		{"/missing.cgi", http.StatusTeapot, nil},
		{"/", http.StatusTeapot, nil},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.path, nil)
		r.Header.Set("Proxy", "http://evil.example")
		r = bridge.WithEnv(r, "REMOTE_USER=bob")
		w := httptest.NewRecorder()
		cgi.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.path, w.Code, tt.status)
			continue
		}
		body, _ := io.ReadAll(w.Body)
		env := map[string]string{}
		for _, line := range strings.Split(string(body), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				env[k] = v
			}
		}
		for k, v := range tt.env {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", tt.path, k, env[k], v)
			}
		}
		for _, k := range []string{"WSBRIDGE_TEST_SECRET", "HTTP_PROXY"} {
			if _, ok := env[k]; ok {
				t.Errorf("%s: %s reached the script", tt.path, k)
			}
		}
	}
	if h.Active() != 0 {
		t.Errorf("%d process slots still held", h.Active())
	}
}

func TestCGIMaxForks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	// The script reports back once it runs, then waits for its stdin (the
	// request body) to end.
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\ncat\n"
	os.WriteFile(filepath.Join(dir, "wait.cgi"), []byte(script), 0o755)
	d, err := bridge.OpenScriptDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := bridge.New(bridge.Options{MaxForks: 1})
	cgi := h.CGI(d, nil)

	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		r := httptest.NewRequest("POST", "/wait.cgi", pr)
		r.ContentLength = -1
		r.TransferEncoding = nil
		w := httptest.NewRecorder()
		cgi.ServeHTTP(w, r)
		done <- w.Code
	}()
	pw.Write([]byte("x")) // the script is running once it reads this
	w := httptest.NewRecorder()
	cgi.ServeHTTP(w, httptest.NewRequest("GET", "/wait.cgi", nil))
	if w.Code != http.StatusTooManyRequests {
		t.Errorf("second script: %d, want 429", w.Code)
	}
	pw.Close()
	if code := <-done; code != 200 {
		t.Errorf("first script: %d", code)
	}
	if h.Active() != 0 {
		t.Errorf("%d process slots still held", h.Active())
	}
}
