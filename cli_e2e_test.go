package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHelpUsageLine(t *testing.T) {
	t.Parallel()
	code, out := runWsbridge(t, nil, "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage: wsbridge [flags] COMMAND [ARGS...]\n") {
		t.Fatalf("exit %d, help starts %q", code, out[:min(len(out), 80)])
	}
}

// Like websocketd, files alone (no COMMAND) are a web server with no
// WebSocket endpoint.
func TestStaticDirWithoutCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello page"), 0o644)
	s := startServer(t, "--staticdir="+dir)
	resp, err := http.Get(s.HTTPURL("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	if status := dialStatus(t, s.URL("/"), nil); status != http.StatusNotFound {
		t.Fatalf("upgrade: %d, want 404 (no endpoint)", status)
	}
}
