package main_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTTPDevConsole(t *testing.T) {
	t.Parallel()
	dir := makeScriptDir(t)
	s := startServer(t, "--devconsole", "--dir="+dir)

	tests := []struct {
		path   string
		status int
	}{
		{"/cat.sh", 200},
		{"/env.sh/room/1?x=y", 200},
		{"/cat.sh/%22%3E%3Cscript%3Ealert(1)%3C/script%3E?q=%3Cimg%20src=x%20onerror=alert(2)%3E", 200},
		{"/missing.sh", 404}, // not an endpoint: no console
		{"/", 404},
	}
	var page string
	for _, tt := range tests {
		res, body := httpRequest(t, nil, "GET", s.HTTPURL(tt.path), nil)
		if res.StatusCode != tt.status {
			t.Errorf("GET %s: %d, want %d", tt.path, res.StatusCode, tt.status)
			continue
		}
		if tt.status != 200 {
			continue
		}
		if page == "" {
			page = body
		}
		if body != page {
			t.Errorf("GET %s: the page depends on the URL", tt.path)
		}
		if strings.Contains(body, "alert(") || strings.Contains(body, "<img src=x") {
			t.Errorf("GET %s: the URL reached the page", tt.path)
		}
		if res.Header.Get("Content-Security-Policy") == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: headers %v", tt.path, res.Header)
		}
	}
	if !strings.Contains(page, "wsbridge dev console") {
		t.Errorf("not the console page: %.200q", page)
	}
	// A plain POST is not the console's: the endpoint answers 426.
	if res, _ := httpRequest(t, nil, "POST", s.HTTPURL("/cat.sh"), nil); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("POST: %d, want 426", res.StatusCode)
	}
	// The same URL upgrades to the endpoint.
	expectEcho(t, dialOpts(t, s.URL("/cat.sh"), nil), "console")
}

// TestHTTPDevConsoleBrowser loads the console in headless Chromium, driven
// by playwright-core: connect, echo a message, disconnect, and check that a
// script in the URL does not run.
func TestHTTPDevConsoleBrowser(t *testing.T) {
	t.Parallel()
	const chromium = "/usr/bin/chromium"
	pw := filepath.Join("static", "node_modules", "playwright-core")
	_, errPW := os.Stat(pw)
	_, errChromium := os.Stat(chromium)
	node, errNode := exec.LookPath("node")
	if errPW != nil || errChromium != nil || errNode != nil {
		skipUnlessCI(t, "needs node, "+pw+" (npm ci --prefix static) and "+chromium+" (apt-get install chromium)")
	}
	s := startServer(t, "--devconsole", "cat")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("static", "tests", "devconsole.browser.mjs"), s.HTTPURL("/echo?room=1"))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", out)
	if err != nil {
		t.Fatalf("browser test: %v", err)
	}
	if !strings.Contains(string(out), "devconsole browser test: ok") {
		t.Fatal("browser test did not report success")
	}
}
