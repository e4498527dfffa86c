package main_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestHardenHeaderEnv: headers whose names map onto the same variable as
// X-Remote-User ("X-Remote.User", "X_Remote_User") never reach the
// program's environment, in a session and in a CGI script alike: only
// names of letters, digits and '-' become HTTP_*.
func TestHardenHeaderEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeScript(t, filepath.Join(dir, "cgi", "env.cgi"), `printf 'Content-Type: text/plain\r\n\r\n'
env | sort
`)
	s := startServer(t, "--cgidir="+filepath.Join(dir, "cgi"), "env")
	header := http.Header{
		"X-Remote-User": {"alice"},
		"X-Remote.User": {"admin"},
		"X_Remote_User": {"root"},
	}
	check := func(what string, env map[string]string) {
		t.Helper()
		if got := env["HTTP_X_REMOTE_USER"]; got != "alice" {
			t.Errorf("%s: HTTP_X_REMOTE_USER=%q, want alice", what, got)
		}
	}
	c := dialOpts(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: header})
	check("session", readEnv(t, c))
	res, body := httpRequest(t, nil, "GET", s.HTTPURL("/env.cgi"), header)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("CGI: %d %q", res.StatusCode, body)
	}
	check("CGI", parseEnv(strings.Split(body, "\n")))
}
