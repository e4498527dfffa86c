package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makeScriptDir makes a --dir folder: env.sh prints its environment, cat.sh
// echoes, and traps that must all be refused.
func makeScriptDir(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	dir := filepath.Join(top, "ws")
	writeScript(t, filepath.Join(dir, "env.sh"), "env\n")
	writeScript(t, filepath.Join(dir, "sub", "deep.sh"), "env\n")
	writeScript(t, filepath.Join(dir, "cat.sh"), "exec cat\n")
	writeScript(t, filepath.Join(dir, ".hidden.sh"), "env\n")
	writeFile(t, filepath.Join(dir, "readme.txt"), "not a program\n", 0o644)
	writeScript(t, filepath.Join(top, "outside.sh"), "env\n")
	if err := os.Symlink("../outside.sh", filepath.Join(dir, "escape.sh")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestHTTPDir(t *testing.T) {
	t.Parallel()
	dir := makeScriptDir(t)
	s := startServer(t, "--dir="+dir)

	tests := []struct {
		path, scriptName, pathInfo, query string
	}{
		{path: "/env.sh/room/1?x=y", scriptName: "/env.sh", pathInfo: "/room/1", query: "x=y"},
		{path: "/env.sh", scriptName: "/env.sh"},
		{path: "/sub/deep.sh/a", scriptName: "/sub/deep.sh", pathInfo: "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			env := readEnv(t, dialOpts(t, s.URL(tt.path), nil))
			want := map[string]string{
				"SCRIPT_NAME":  tt.scriptName,
				"PATH_INFO":    tt.pathInfo,
				"QUERY_STRING": tt.query,
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s=%q, want %q", k, env[k], v)
				}
			}
		})
	}
	// The endpoints still work after all those sessions.
	expectEcho(t, dialOpts(t, s.URL("/cat.sh"), nil), "hello")
}

func TestHTTPDirRefusals(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--dir="+makeScriptDir(t), "--maxforks=1")
	for _, path := range []string{
		"/", "/sub", "/sub/", "/missing.sh", "/readme.txt", "/.hidden.sh",
		"/../outside.sh", "/%2e%2e/outside.sh", "/sub/%2E%2E/%2e%2e/outside.sh", "/escape.sh",
	} {
		t.Run(path, func(t *testing.T) {
			if got := dialStatus(t, s.URL(path), nil); got != http.StatusNotFound {
				t.Errorf("upgrade on %s: %d, want 404", path, got)
			}
			res, _ := httpRequest(t, nil, "GET", s.HTTPURL(path), nil)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
			}
		})
	}
	// A plain GET on a real endpoint says it speaks WebSocket.
	if res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/env.sh"), nil); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("GET /env.sh: %d, want 426", res.StatusCode)
	}
	// None of the refusals held the only process slot.
	expectEcho(t, dialOpts(t, s.URL("/cat.sh"), nil), "still here")
}

func TestHTTPStartupErrors(t *testing.T) {
	t.Parallel()
	dir := makeScriptDir(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"dir and command", []string{"--dir=" + dir, "cat"}, 2, "--dir"},
		{"devconsole and staticdir", []string{"--devconsole", "--staticdir=" + dir, "cat"}, 2, "--devconsole"},
		{"dir missing", []string{"--dir=" + filepath.Join(dir, "nope")}, 1, "--dir"},
		{"staticdir missing", []string{"--staticdir=" + filepath.Join(dir, "nope"), "cat"}, 1, "--staticdir"},
		{"cgidir missing", []string{"--cgidir=" + filepath.Join(dir, "nope"), "cat"}, 1, "--cgidir"},
		{"staticdir inside cgidir", []string{"--cgidir=" + dir, "--staticdir=" + filepath.Join(dir, "sub"), "cat"}, 1, "--staticdir"},
		{"ssl without cert", []string{"--ssl", "cat"}, 2, "--sslcert"},
		{"sslcert without ssl", []string{"--sslcert=x", "--sslkey=y", "cat"}, 2, "--ssl"},
		{"bad header", []string{"--header=NoColon", "cat"}, 2, "--header"},
		{"bad origin", []string{"--origin=ftp://x", "cat"}, 2, "--origin"},
		{"bad credential", []string{"--credential=nocolon", "cat"}, 2, "--credential"},
		{"bad subprotocol", []string{"--subprotocol=a b", "cat"}, 2, "--subprotocol"},
		{"redirport is port", []string{"--port=8080", "--redirport=8080", "cat"}, 2, "--redirport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out := runWsbridge(t, nil, append([]string{"--address=127.0.0.1"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want %d; output %q should mention %q", code, tt.code, out, tt.want)
			}
		})
	}
}
