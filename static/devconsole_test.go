package static_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/wsbridge/wsbridge/static"
)

func TestDevConsoleNothingReflected(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile("devconsole/index.html")
	if err != nil {
		t.Fatal(err)
	}
	h := static.DevConsole()
	tests := []string{
		"/",
		"/chat?room=1",
		`/x"><script>alert(1)</script>`,
		"/%3Cimg%20src=x%20onerror=alert(1)%3E?q=%22%3E%3Cscript%3E",
		"/a'b/c?x=</script><script>alert(2)</script>",
	}
	for _, target := range tests {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RequestURI = target
			r.URL.Path = target
			r.Host = `evil"><script>.example`
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			if w.Body.String() != string(page) {
				t.Error("the page differs from the embedded file: something of the request reached it")
			}
			for _, name := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
				if w.Header().Get(name) == "" {
					t.Errorf("no %s", name)
				}
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// TestDevConsoleCSP checks that the policy allows the page's own script and
// style, by hash, and nothing inline besides.
func TestDevConsoleCSP(t *testing.T) {
	t.Parallel()
	page, _ := os.ReadFile("devconsole/index.html")
	w := httptest.NewRecorder()
	static.DevConsole().ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	csp := w.Header().Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllSubmatch(page, -1)
		if len(m) != 1 {
			t.Fatalf("%d <%s> blocks", len(m), tag)
		}
		sum := sha256.Sum256(m[0][1])
		if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, tag+"-src "+want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP too loose: %q", csp)
	}
	if regexp.MustCompile(`(?i)\son[a-z]+\s*=`).Match(page) {
		t.Error("inline event handler attribute in the page: CSP would block it")
	}
}

func TestDevConsoleMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		status int
	}{{"GET", 200}, {"HEAD", 200}, {"POST", 405}}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		static.DevConsole().ServeHTTP(w, httptest.NewRequest(tt.method, "/", nil))
		if w.Code != tt.status {
			t.Errorf("%s: %d, want %d", tt.method, w.Code, tt.status)
		}
	}
	// Revalidation by ETag.
	w := httptest.NewRecorder()
	static.DevConsole().ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w2 := httptest.NewRecorder()
	static.DevConsole().ServeHTTP(w2, r)
	if w2.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", w2.Code)
	}
}
