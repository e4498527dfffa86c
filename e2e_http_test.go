package main_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"
)

// unixClient talks HTTP over the unix socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}

func TestHTTPUnixSocket(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(shortTempDir(t), "s")
	// A stale socket file from a server that is gone is replaced.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}

	// The name a proxy in front of the socket passes on as Host must be
	// allowed; others are refused there too (DNS rebinding).
	s := startDaemon(t, nil, "--unixsocket="+sock, "--allowed-host=wsbridge", "env")
	if code := dialStatus(t, "ws://other.example/chat", &websocket.DialOptions{HTTPClient: unixClient(sock)}); code != http.StatusForbidden {
		t.Errorf("unlisted Host on the unix socket: HTTP %d, want 403", code)
	}
	c := dialOpts(t, "ws://wsbridge/chat?x=1", &websocket.DialOptions{HTTPClient: unixClient(sock)})
	env := readEnv(t, c)
	if env["REMOTE_ADDR"] != "unix-socket" || env["PATH_INFO"] != "/chat" || env["QUERY_STRING"] != "x=1" {
		t.Errorf("REMOTE_ADDR=%q PATH_INFO=%q QUERY_STRING=%q", env["REMOTE_ADDR"], env["PATH_INFO"], env["QUERY_STRING"])
	}
	// Alone: no TCP listener was opened.
	if strings.Count(s.Stderr(), "msg=listening") != 1 {
		t.Errorf("want only the socket listening:\n%s", s.Stderr())
	}

	// A live socket is not taken over.
	code, out := runWsbridge(t, nil, "--unixsocket="+sock, "cat")
	if code != 3 || !strings.Contains(out, "listening there already") {
		t.Errorf("second server on a live socket: exit %d %q, want 3", code, out)
	}
	// Nor is a file that is not a socket.
	file := writeFile(t, filepath.Join(t.TempDir(), "f"), "data", 0o644)
	code, out = runWsbridge(t, nil, "--unixsocket="+file, "cat")
	if code != 3 || !strings.Contains(out, "not a socket") {
		t.Errorf("regular file: exit %d %q, want 3", code, out)
	}
	if b, _ := os.ReadFile(file); string(b) != "data" {
		t.Error("the regular file was touched")
	}
}

func TestHTTPUnixSocketBesideTCP(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(shortTempDir(t), "s")
	s := startServer(t, "--unixsocket="+sock, "cat")
	s.waitDial(t, "unix", sock)
	expectEcho(t, dialOpts(t, "ws://localhost/", &websocket.DialOptions{HTTPClient: unixClient(sock)}), "via socket")
	expectEcho(t, dialOpts(t, s.URL("/"), nil), "via tcp")
	if !strings.Contains(s.Stderr(), s.addr) {
		t.Errorf("TCP listener missing:\n%s", s.Stderr())
	}
}

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
		path     string
		header   http.Header
		status   int
		body     string
		ctype    string
		location string
	}{
		{path: "/", status: 200, body: "<h1>home</h1>\n", ctype: "text/html"},
		{path: "/app.js", status: 200, body: "console.log('hi')\n", ctype: "text/javascript"},
		{path: "/docs/", status: 200, body: "<p>docs</p>\n"},
		{path: "/docs", status: 301},
		{path: "/big.txt", header: http.Header{"Range": {"bytes=5-9"}}, status: 206, body: "56789"},
		// Misses are 404 beside files, as in websocketd, though the
		// command answers an upgrade on every path.
		{path: "/nolist/", status: 404}, // no listing
		{path: "/.env", status: 404},
		{path: "/.git/config", status: 404},
		{path: "/out.txt", status: 404},
		{path: "/%2e%2e/outside.txt", status: 301, location: "/outside.txt"}, // the clean path...
		{path: "/outside.txt", status: 404},                                  // ...is inside, and missing
		{path: "/cgi-bin/hello.cgi", status: 404},                            // never the source
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
			if tt.location != "" && res.Header.Get("Location") != tt.location {
				t.Errorf("Location %q, want %q", res.Header.Get("Location"), tt.location)
			}
			// "outside\n" is the file's content; a redirect's body names
			// the clean path, /outside.txt.
			if strings.Contains(body, "SECRET") || strings.Contains(body, "outside\n") || strings.Contains(body, "printf") {
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
			// An unclean path is redirected to the clean one first (as
			// websocketd does): that one is inside the folder, and missing.
			if loc := res.Header.Get("Location"); res.StatusCode == http.StatusMovedPermanently && strings.Contains(path, "outside.sh") {
				if loc != "/outside.sh" {
					t.Errorf("GET %s: redirected to %q, want /outside.sh", path, loc)
				}
				res, _ = httpRequest(t, nil, "GET", s.HTTPURL(loc), nil)
			}
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

// TestHTTPDirRefusalsLogged: every refused upgrade is logged once, at
// access level, with the remote, the path and why (issue 9, point 9). A
// script that exists but is not executable gets 404, and the log says so
// with the command that fixes it; the client learns nothing of the folder.
func TestHTTPDirRefusalsLogged(t *testing.T) {
	t.Parallel()
	dir := makeScriptDir(t)
	noexec := writeFile(t, filepath.Join(dir, "noexec.sh"), "#!/bin/sh\necho hi\n", 0o644)
	if real, err := filepath.EvalSymlinks(noexec); err == nil {
		noexec = real
	}
	s := startServer(t, "--dir="+dir, "--maxforks=1", "--subprotocol=chat")
	held := dial(t, s.URL("/cat.sh")) // holds the only process slot
	expectEcho(t, held, "hi")

	tests := []struct {
		path, logged string // logged: the path as the log shows it, decoded
		opts         *websocket.DialOptions
		status       int
		reason       string
	}{
		{"/noexec.sh", "", nil, 404, `reason="not executable" hint="chmod +x ` + noexec + `"`},
		{"/missing.sh", "", nil, 404, `reason="not found"`},
		{"/sub", "", nil, 404, `reason="a folder"`},
		{"/readme.txt", "", nil, 404, `reason="not executable"`},
		{"/.hidden.sh", "", nil, 404, `reason="hidden (dotfile)"`},
		{"/escape.sh", "", nil, 404, `reason="outside the folder"`},
		// An unclean upgrade is served as its clean path (TestHTTPUncleanPath):
		// it never climbs out, and what it misses is logged by that name.
		{"/%2e%2e/outside.sh", "/outside.sh", nil, 404, `reason="not found"`},
		{"/env.sh", "", &websocket.DialOptions{Subprotocols: []string{"other"}}, 400, "reason=subprotocol"},
		{"/env.sh", "", nil, 429, "reason=maxforks"},
	}
	for _, tt := range tests {
		if got := dialStatus(t, s.URL(tt.path), tt.opts); got != tt.status {
			t.Errorf("upgrade on %s: %d, want %d", tt.path, got, tt.status)
		}
		logged := tt.logged
		if logged == "" {
			logged = tt.path
		}
		line := s.waitLog(t, 5*time.Second, "msg=refused", "path="+logged+" ", tt.reason)
		if !strings.Contains(line, "level=ACCESS") || !strings.Contains(line, "remote=127.0.0.1:") {
			t.Errorf("refusal of %s: %q, want an access line naming the remote", tt.path, line)
		}
		if strings.Contains(tt.reason, "hint") {
			if res, body := httpRequest(t, nil, "GET", s.HTTPURL(tt.path), nil); res.StatusCode != 404 || strings.Contains(body, "chmod") || strings.Contains(body, "executable") {
				t.Errorf("GET %s: %d %q, want a bare 404", tt.path, res.StatusCode, body)
			}
		}
	}
	// Once each: nothing logs a refusal twice.
	refusals := func(out string) int { return strings.Count(out, "msg=refused") }
	if s.await(300*time.Millisecond, func(out string) bool { return refusals(out) > len(tests) }) {
		t.Errorf("%d refusals logged for %d refused upgrades:\n%s", refusals(s.Stderr()), len(tests), s.Stderr())
	}
}

// TestHTTPDirWithoutExecutablesWarns: a --dir folder where every upgrade
// would get 404, for want of an executable, is named at startup with the
// remedy (issue 9, point 9).
func TestHTTPDirWithoutExecutablesWarns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "chat.sh"), "#!/bin/sh\nexec cat\n", 0o644)
	writeFile(t, filepath.Join(dir, "sub", "deep.sh"), "#!/bin/sh\nexec cat\n", 0o644)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	s := startServer(t, "--dir="+dir)
	s.waitLog(t, 5*time.Second, "level=WARN", "holds no executable", "chmod +x", "dir="+dir)

	// A folder with an endpoint gets no such warning.
	ok := startServer(t, "--dir="+makeScriptDir(t))
	ok.waitLog(t, 5*time.Second, "msg=listening")
	if strings.Contains(ok.Stderr(), "chmod") {
		t.Errorf("warned about a folder with endpoints:\n%s", ok.Stderr())
	}
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

func TestHTTPOrigin(t *testing.T) {
	t.Parallel()
	list := startServer(t, "--origin=good.example,https://secure.example:8443", "--maxforks=1", "cat")
	same := startServer(t, "--sameorigin", "--maxforks=1", "cat")
	tests := []struct {
		name   string
		s      *server
		origin string // "": none
		ok     bool
	}{
		{"listed, any port", list, "http://good.example:1234", true},
		{"listed, https", list, "https://good.example", true},
		{"listed with scheme and port", list, "https://secure.example:8443", true},
		{"wrong scheme", list, "http://secure.example:8443", false},
		{"wrong port", list, "https://secure.example:443", false},
		{"not listed", list, "http://evil.example", false},
		{"missing", list, "", false},
		{"null", list, "null", false},
		{"same origin", same, "SAME", true},
		{"same host other port", same, "http://127.0.0.1:1", false},
		{"same origin missing", same, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := tt.origin
			if origin == "SAME" {
				origin = tt.s.HTTPURL("")
			}
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			opts := &websocket.DialOptions{HTTPHeader: h}
			if !tt.ok {
				if got := dialStatus(t, tt.s.URL("/"), opts); got != http.StatusForbidden {
					t.Fatalf("status %d, want 403", got)
				}
				return
			}
			c := dialOpts(t, tt.s.URL("/"), opts)
			expectEcho(t, c, "hi")
			c.Close(websocket.StatusNormalClosure, "")
			waitIdle(t, tt.s)
		})
	}
	list.await(testTimeout, func(l string) bool { return strings.Count(l, "msg=connect") >= 3 })
	if n := strings.Count(list.Stderr(), "msg=connect"); n != 3 {
		t.Errorf("refused origins started processes:\n%s", list.Stderr())
	}
}

// waitIdle waits until the server logged as many disconnects as connects,
// at least one of each, so the next client finds the --maxforks slot free
// (the daemon frees it before logging the disconnect).
func waitIdle(t *testing.T, s *server) {
	t.Helper()
	if !s.await(10*time.Second, func(l string) bool {
		n := strings.Count(l, "msg=connect")
		return n > 0 && n == strings.Count(l, "msg=disconnect")
	}) {
		t.Fatal("sessions did not end")
	}
}

func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "users")
	writeFile(t, creds, "# users\ncarol:"+string(hash)+"\n", 0o600)
	www := t.TempDir()
	writeFile(t, filepath.Join(www, "index.html"), "<p>private</p>", 0o644)
	s := startServer(t, "--credential=alice:open sesame", "--credential-file="+creds, "--staticdir="+www, "--maxforks=1", "--passenv=", "env")

	basic := func(user, pass string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
	}
	// Static and upgrade alike need credentials.
	for _, h := range []http.Header{nil, basic("alice", "wrong"), basic("mallory", "open sesame")} {
		res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), h)
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("static with %v: %d %q", h, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
		if got := dialStatus(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: h}); got != http.StatusUnauthorized {
			t.Errorf("upgrade with %v: %d, want 401", h, got)
		}
	}
	if res, body := httpRequest(t, nil, "GET", s.HTTPURL("/"), basic("alice", "open sesame")); res.StatusCode != 200 || body != "<p>private</p>" {
		t.Errorf("static with credentials: %d %q", res.StatusCode, body)
	}

	for _, user := range []struct{ name, pass string }{{"alice", "open sesame"}, {"carol", "hashed pw"}} {
		env := readEnv(t, dialOpts(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: basic(user.name, user.pass)}))
		if env["REMOTE_USER"] != user.name || env["AUTH_TYPE"] != "Basic" {
			t.Errorf("%s: REMOTE_USER=%q AUTH_TYPE=%q", user.name, env["REMOTE_USER"], env["AUTH_TYPE"])
		}
		if _, ok := env["HTTP_AUTHORIZATION"]; ok {
			t.Errorf("%s: the child sees the Authorization header", user.name)
		}
		waitIdle(t, s)
	}
	if l := s.Stderr(); strings.Contains(l, "open sesame") || strings.Contains(l, "hashed pw") || strings.Contains(l, "wrong") {
		t.Errorf("a password reached the log:\n%s", l)
	}
	// The log reaches the test through a pipe: wait for both accepted
	// sessions' lines before checking that no refused request added one.
	s.await(testTimeout, func(l string) bool { return strings.Count(l, "msg=connect") >= 2 })
	if strings.Count(s.Stderr(), "msg=connect") != 2 {
		t.Errorf("refused requests started processes:\n%s", s.Stderr())
	}
}

// TestHTTPAuthToken plays Safari: credentials on the page, none on the
// upgrade, which gets in with the cookie the page carried.
func TestHTTPAuthToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--credential=alice:pw", "--devconsole", "env")
	res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))}})
	if res.StatusCode != 200 {
		t.Fatalf("console: %d", res.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "wsbridge_token" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("token cookie: %+v", cookie)
	}
	h := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value + "; other=1"}}
	env := readEnv(t, dialOpts(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: h}))
	if env["REMOTE_USER"] != "alice" || env["AUTH_TYPE"] != "Basic" {
		t.Errorf("REMOTE_USER=%q AUTH_TYPE=%q", env["REMOTE_USER"], env["AUTH_TYPE"])
	}
	if env["HTTP_COOKIE"] != "other=1" {
		t.Errorf("HTTP_COOKIE=%q: the token must not reach the child", env["HTTP_COOKIE"])
	}
	bad := http.Header{"Cookie": {cookie.Name + "=" + strings.Replace(cookie.Value, "a", "b", 1) + "x"}}
	if got := dialStatus(t, s.URL("/"), &websocket.DialOptions{HTTPHeader: bad}); got != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", got)
	}
}

func TestHTTPHeaders(t *testing.T) {
	t.Parallel()
	www := t.TempDir()
	writeFile(t, filepath.Join(www, "index.html"), "hi", 0o644)
	s := startServer(t, "--staticdir="+www,
		"--header=X-All: everywhere", "--header=Cache-Control: no-cache, no-store",
		"--header-ws=X-WS: upgrade", "--header-http=X-HTTP: plain", "cat")

	res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), nil)
	if res.Header.Get("X-All") != "everywhere" || res.Header.Get("Cache-Control") != "no-cache, no-store" ||
		res.Header.Get("X-HTTP") != "plain" || res.Header.Get("X-WS") != "" {
		t.Errorf("plain response headers: %v", res.Header)
	}
	res, _ = httpRequest(t, nil, "GET", s.HTTPURL("/missing"), nil) // 426
	if res.Header.Get("X-All") != "everywhere" || res.Header.Get("X-HTTP") != "plain" {
		t.Errorf("refusal headers: %v", res.Header)
	}
	_, wres, err := tryDial(t, s.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if wres.Header.Get("X-All") != "everywhere" || wres.Header.Get("X-WS") != "upgrade" || wres.Header.Get("X-HTTP") != "" {
		t.Errorf("101 headers: %v", wres.Header)
	}
}

func TestHTTPSubprotocol(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--subprotocol=chat.v2", "--subprotocol=chat.v1,json", "env")
	plain := startServer(t, "env")
	tests := []struct {
		name    string
		s       *server
		offered []string
		want    string // "!" : refused
	}{
		{"server order wins", s, []string{"json", "chat.v1", "chat.v2"}, "chat.v2"},
		{"second choice", s, []string{"json", "chat.v1"}, "chat.v1"},
		{"only one known", s, []string{"x", "json"}, "json"},
		{"none offered", s, nil, ""},
		{"only unknown", s, []string{"mqtt", "stomp"}, "!"},
		{"server speaks none", plain, []string{"chat.v1"}, "!"},
		{"server speaks none, none offered", plain, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := &websocket.DialOptions{Subprotocols: tt.offered}
			if tt.want == "!" {
				_, res, err := tryDial(t, tt.s.URL("/"), opts)
				if err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
					t.Fatalf("want 400, got %v %v", res, err)
				}
				return
			}
			c := dialOpts(t, tt.s.URL("/"), opts)
			if c.Subprotocol() != tt.want {
				t.Errorf("handshake chose %q, want %q", c.Subprotocol(), tt.want)
			}
			env := readEnv(t, c)
			if got, ok := env["WEBSOCKET_PROTOCOL"]; !ok || got != tt.want {
				t.Errorf("WEBSOCKET_PROTOCOL=%q (set %v), want %q", got, ok, tt.want)
			}
		})
	}
	// The refusal says why.
	req, _ := http.NewRequest("GET", s.HTTPURL("/"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", "mqtt")
	res, err := httpClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, _ := res.Body.Read(buf)
	res.Body.Close()
	if !strings.Contains(string(buf[:n]), "chat.v2, chat.v1, json") {
		t.Errorf("refusal body %q does not list the server's subprotocols", buf[:n])
	}
}

func TestHTTPHeaderLimits(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--maxforks=1", "--headertimeout=500ms", "cat")

	// 64 KiB of headers in all: a little less passes, more gets 431.
	fits := http.Header{"X-Big": {strings.Repeat("a", 60<<10)}}
	if res, _ := httpRequest(t, nil, "GET", s.HTTPURL("/"), fits); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("60 KiB header: %d, want 426", res.StatusCode)
	}
	tooBig := http.Header{"X-Big": {strings.Repeat("a", 65<<10)}}
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Big: %s\r\n\r\n", tooBig.Get("X-Big"))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "431") {
		t.Errorf("65 KiB header: %q %v, want 431", status, err)
	}

	// A half-open handshake: headers never finished. The connection is
	// dropped after --headertimeout, and meanwhile it holds no process slot.
	half, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	fmt.Fprintf(half, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n")
	c := dialOpts(t, s.URL("/"), nil)
	expectEcho(t, c, "the slot is free")
	c.Close(websocket.StatusNormalClosure, "")
	half.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = half.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("half-open connection still open after %v", time.Since(start))
	}
}

// TestHTTPHalfOpenUpgrade: a client that completes the request but never
// reads the 101 still gets its session; one that disappears frees the slot.
func TestHTTPHalfOpenUpgrade(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--maxforks=1", "cat")
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", s.addr)
	conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c, _, err := websocket.Dial(ctx, s.URL("/"), nil)
		if err == nil {
			expectEcho(t, c, "free again")
			c.CloseNow()
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the vanished client's slot never came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testCert is a key pair signed by parent (self-signed when parent is nil).
type testCert struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certFile string
	keyFile  string
}

// makeCert writes a certificate for 127.0.0.1 (or a client certificate
// named cn) into dir.
func makeCert(t *testing.T, dir, cn string, isCA, client bool, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"wsbridge tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	switch {
	case isCA:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	case client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	c := &testCert{cert: cert, key: key, certFile: filepath.Join(dir, cn+".crt"), keyFile: filepath.Join(dir, cn+".key")}
	os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return c
}

func (c *testCert) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

func (c *testCert) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key}
}

func wssOpts(cfg *tls.Config) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: httpClient(cfg)}
}

func TestHTTPTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := makeCert(t, dir, "server", false, false, nil)
	www := t.TempDir()
	writeFile(t, filepath.Join(www, "index.html"), "secure", 0o644)
	s := startServer(t, "--ssl", "--sslcert="+srv.certFile, "--sslkey="+srv.keyFile, "--staticdir="+www, "env")

	cfg := &tls.Config{RootCAs: srv.pool()}
	if res, body := httpRequest(t, httpClient(cfg), "GET", s.HTTPURL("/"), nil); res.StatusCode != 200 || body != "secure" || res.TLS == nil {
		t.Fatalf("https static: %d %q", res.StatusCode, body)
	}
	env := readEnv(t, dialOpts(t, s.URL("/"), wssOpts(cfg)))
	if env["HTTPS"] != "on" {
		t.Errorf("HTTPS=%q", env["HTTPS"])
	}
	if _, ok := env["SSL_CLIENT_VERIFY"]; ok {
		t.Error("SSL_CLIENT_VERIFY set without --sslca")
	}
	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: srv.pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", s.addr, old); err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake succeeded")
	} else if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1: %v, want the server's protocol version alert", err)
	}
	// Plain HTTP on the TLS port gets no page.
	if res, err := http.Get("http://" + s.addr + "/"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS port")
		}
	}
}

func TestHTTPTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := makeCert(t, dir, "first", false, false, nil)
	second := makeCert(t, dir, "second", false, false, nil)
	live := filepath.Join(t.TempDir(), "live")
	os.Mkdir(live, 0o755)
	certFile, keyFile := filepath.Join(live, "cert.pem"), filepath.Join(live, "key.pem")
	install := func(c *testCert) {
		for src, dst := range map[string]string{c.certFile: certFile, c.keyFile: keyFile} {
			b, _ := os.ReadFile(src)
			if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
				t.Fatal(err)
			}
			os.Rename(dst+".tmp", dst)
		}
	}
	install(first)
	s := startServer(t, "--ssl", "--sslcert="+certFile, "--sslkey="+keyFile, "cat")

	session := dialOpts(t, s.URL("/"), wssOpts(&tls.Config{RootCAs: first.pool()}))
	expectEcho(t, session, "before")

	install(second)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 10*time.Second, "certificates reloaded")
	// New connections get the new certificate...
	if res, _ := httpRequest(t, httpClient(&tls.Config{RootCAs: second.pool()}), "GET", s.HTTPURL("/"), nil); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("after reload: %d", res.StatusCode)
	}
	// ...and the session on the old one goes on.
	expectEcho(t, session, "after")

	// A broken file keeps the current certificate.
	os.WriteFile(certFile, []byte("garbage"), 0o644)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 10*time.Second, "not reloaded")
	if res, _ := httpRequest(t, httpClient(&tls.Config{RootCAs: second.pool()}), "GET", s.HTTPURL("/"), nil); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("after failed reload: %d", res.StatusCode)
	}
	expectEcho(t, session, "still")
}

func TestHTTPClientCert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := makeCert(t, dir, "ca", true, false, nil)
	srv := makeCert(t, dir, "server", false, false, ca)
	client := makeCert(t, dir, "alice", false, true, ca)
	stranger := makeCert(t, dir, "mallory", false, true, nil)
	s := startServer(t, "--ssl", "--sslcert="+srv.certFile, "--sslkey="+srv.keyFile, "--sslca="+ca.certFile, "env")

	for name, certs := range map[string][]tls.Certificate{"no certificate": nil, "unknown CA": {stranger.tlsCert()}} {
		c, _, err := tryDial(t, s.URL("/"), wssOpts(&tls.Config{RootCAs: ca.pool(), Certificates: certs}))
		if err == nil {
			c.CloseNow()
			t.Errorf("%s: connected", name)
		}
	}
	env := readEnv(t, dialOpts(t, s.URL("/"), wssOpts(&tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{client.tlsCert()}})))
	if env["SSL_CLIENT_VERIFY"] != "SUCCESS" || env["SSL_CLIENT_S_DN"] != "CN=alice,O=wsbridge tests" {
		t.Errorf("SSL_CLIENT_VERIFY=%q SSL_CLIENT_S_DN=%q", env["SSL_CLIENT_VERIFY"], env["SSL_CLIENT_S_DN"])
	}
}

func TestHTTPRedirPort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := makeCert(t, dir, "server", false, false, nil)
	redir := freePort(t)
	s := startServer(t, "--ssl", "--sslcert="+srv.certFile, "--sslkey="+srv.keyFile, "--redirport="+strconv.Itoa(redir), "cat")
	s.waitDial(t, "tcp", "127.0.0.1:"+strconv.Itoa(redir))
	base := "http://127.0.0.1:" + strconv.Itoa(redir)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/chat/room?x=1&y=%2F", http.StatusMovedPermanently},
		{"HEAD", "/", http.StatusMovedPermanently},
		{"POST", "/form", http.StatusPermanentRedirect},
	}
	for _, tt := range tests {
		res, _ := httpRequest(t, nil, tt.method, base+tt.path, nil)
		want := s.HTTPURL(tt.path)
		if res.StatusCode != tt.status || res.Header.Get("Location") != want {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, res.StatusCode, res.Header.Get("Location"), tt.status, want)
		}
	}
	// The TLS port itself still serves.
	expectEcho(t, dialOpts(t, s.URL("/"), wssOpts(&tls.Config{RootCAs: srv.pool()})), "tls")
}

// --- websocketd compatibility of plain HTTP next to endpoints (issue 9) ---

// compatSite makes the folders of the websocketd-compatibility tests: pages
// with links to them, absolute and relative, inside and outside the folder;
// a CGI folder beside the pages and one nested in them; and a --dir of
// endpoints next to both.
func compatSite(t *testing.T) (top string) {
	t.Helper()
	top = t.TempDir()
	www := filepath.Join(top, "www")
	writeFile(t, filepath.Join(www, "hello.html"), "<p>hello</p>\n", 0o644)
	writeFile(t, filepath.Join(www, "public.html"), "public\n", 0o644)
	writeFile(t, filepath.Join(www, "docs", "index.html"), "docs\n", 0o644)
	writeFile(t, filepath.Join(www, "sub", "a.html"), "a\n", 0o644)
	writeFile(t, filepath.Join(www, ".env"), "SECRET=1\n", 0o644)
	writeScript(t, filepath.Join(www, "cgi-bin", "run.cgi"), "printf 'Content-Type: text/plain\\r\\n\\r\\nran\\n'\n")
	writeFile(t, filepath.Join(top, "outside.txt"), "outside\n", 0o644)
	writeScript(t, filepath.Join(top, "cgi", "hello.sh"), "printf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"hello from $SCRIPT_NAME\"\n")
	writeScript(t, filepath.Join(top, "cgi", "post.sh"), "printf 'Status: 201 Created\\r\\nContent-Type: text/plain\\r\\n\\r\\n'\ncat\n")
	writeScript(t, filepath.Join(www, "tool.sh"), "exec cat\n")
	writeScript(t, filepath.Join(top, "ws", "chat.sh"), "exec cat\n")
	writeScript(t, filepath.Join(top, "ws", "env.sh"), "env\n")
	for link, target := range map[string]string{
		"www/inside.html":      filepath.Join(www, "public.html"), // absolute, inside
		"www/relative.html":    "public.html",
		"www/docs-abs":         filepath.Join(www, "docs"),
		"www/outside.html":     filepath.Join(top, "outside.txt"), // absolute, outside
		"www/outside-rel.html": "../outside.txt",
		"www/env.txt":          filepath.Join(www, ".env"),               // a dotfile by another name
		"www/source.txt":       filepath.Join(www, "cgi-bin", "run.cgi"), // a script's source
		"www/loop.html":        filepath.Join(www, "loop.html"),          // never resolves
		"www/up":               top,                                      // the folder above
		"www/self":             www,                                      // the folder itself
		"ws/linked.sh":         filepath.Join(top, "ws", "chat.sh"),      // an endpoint, absolutely
		"www/tool-link.txt":    filepath.Join(www, "tool.sh"),            // an endpoint's source
		"www/chat-source.txt":  filepath.Join(top, "ws", "chat.sh"),      // outside www anyway
		"www/sub/back.html":    filepath.Join(www, "hello.html"),         // absolute, from a subfolder
		"www/sub/rel-up.html":  "../public.html",                         // relative, from a subfolder
		"www/sub/escape.html":  "../../outside.txt",                      // relative, out
		"www/sub/abs-dir":      filepath.Join(www, "sub"),                // a folder linking to itself
		"www/index-link":       filepath.Join(www, "docs"),               // folder whose index is served
		"www/docs/home.html":   filepath.Join(www, "hello.html"),         // link in a linked folder
		"www/docs/index2.html": "../hello.html",                          // relative, inside
	} {
		if err := os.Symlink(target, filepath.Join(top, link)); err != nil {
			t.Fatal(err)
		}
	}
	return top
}

// rawRequest sends one request over a fresh TCP connection exactly as
// written (no client cleans the path) and returns the status and Location;
// with upgrade it is a WebSocket handshake.
func rawRequest(t testing.TB, addr, method, path string, upgrade bool) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, addr)
	if upgrade {
		req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	} else {
		req += "Connection: close\r\nContent-Length: 0\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// TestHTTPMissIs404: with --staticdir or --cgidir next to a COMMAND, a plain
// GET that no file or script answers is 404, as in websocketd, not the
// command's 426; the upgrade still reaches the command on every path. With
// the command alone, 426 stays: it is all there is.
func TestHTTPMissIs404(t *testing.T) {
	t.Parallel()
	top := compatSite(t)
	www, cgi := filepath.Join(top, "www"), filepath.Join(top, "cgi")
	for _, tt := range []struct {
		name   string
		args   []string
		path   string
		status int
	}{
		{"static", []string{"--staticdir=" + www, "cat"}, "/nonexistent.html", 404},
		{"static, hidden", []string{"--staticdir=" + www, "cat"}, "/.env", 404},
		{"static, folder without index", []string{"--staticdir=" + www, "cat"}, "/sub/", 404},
		{"static and cgi", []string{"--staticdir=" + www, "--cgidir=" + cgi, "cat"}, "/nonexistent.html", 404},
		{"cgi", []string{"--cgidir=" + cgi, "cat"}, "/nonexistent.html", 404},
		{"cgi, a page", []string{"--cgidir=" + cgi, "cat"}, "/hello.html", 404},
		{"command alone", []string{"cat"}, "/nonexistent.html", 426},
		{"dir and static, a script", []string{"--staticdir=" + www, "--dir=" + filepath.Join(top, "ws")}, "/chat.sh", 426},
		{"dir and static, a miss", []string{"--staticdir=" + www, "--dir=" + filepath.Join(top, "ws")}, "/nonexistent.html", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, tt.args...)
			res, body := httpRequest(t, nil, "GET", s.HTTPURL(tt.path), nil)
			if res.StatusCode != tt.status {
				t.Fatalf("GET %s: %d %q, want %d", tt.path, res.StatusCode, body, tt.status)
			}
			if strings.Contains(body, "SECRET") {
				t.Errorf("leaked: %q", body)
			}
			// Where an upgrade would have worked, the 404 says so.
			if res.Header.Get("Upgrade") != "websocket" && tt.args[len(tt.args)-1] == "cat" {
				t.Errorf("GET %s: no Upgrade: websocket hint: %v", tt.path, res.Header)
			}
			if tt.args[len(tt.args)-1] == "cat" {
				expectEcho(t, dialOpts(t, s.URL(tt.path), nil), "still an endpoint")
			}
		})
	}
}

// TestHTTPStaticAbsoluteSymlinks: a link in --staticdir is followed when
// its target, absolute or relative, lies inside the folder; every target
// outside it stays refused, and so do dotfiles and scripts reached through a
// link.
func TestHTTPStaticAbsoluteSymlinks(t *testing.T) {
	t.Parallel()
	top := compatSite(t)
	www := filepath.Join(top, "www")
	s := startServer(t, "--staticdir="+www, "--cgidir="+filepath.Join(www, "cgi-bin"), "--dir="+www)
	for _, tt := range []struct {
		path   string
		status int
		body   string
	}{
		{"/inside.html", 200, "public\n"},
		{"/relative.html", 200, "public\n"},
		{"/docs-abs/", 200, "docs\n"},
		{"/docs-abs/home.html", 200, "<p>hello</p>\n"},
		{"/index-link/", 200, "docs\n"},
		{"/docs/home.html", 200, "<p>hello</p>\n"},
		{"/docs/index2.html", 200, "<p>hello</p>\n"},
		{"/sub/back.html", 200, "<p>hello</p>\n"},
		{"/sub/rel-up.html", 200, "public\n"},
		{"/sub/abs-dir/a.html", 200, "a\n"},
		{"/self/hello.html", 200, "<p>hello</p>\n"},
		{"/outside.html", 404, ""},
		{"/outside-rel.html", 404, ""},
		{"/sub/escape.html", 404, ""},
		{"/up/outside.txt", 404, ""},
		{"/up/www/hello.html", 404, ""},
		{"/chat-source.txt", 404, ""},
		{"/env.txt", 404, ""},
		{"/self/.env", 404, ""},
		{"/source.txt", 404, ""},
		{"/loop.html", 404, ""},
	} {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			res, body := httpRequest(t, nil, "GET", s.HTTPURL(tt.path), nil)
			if res.StatusCode != tt.status || (tt.body != "" && body != tt.body) {
				t.Errorf("GET %s: %d %q, want %d %q", tt.path, res.StatusCode, body, tt.status, tt.body)
			}
			for _, leak := range []string{"outside", "SECRET", "printf", "exec cat"} {
				if strings.Contains(body, leak) {
					t.Errorf("GET %s leaked %q: %q", tt.path, leak, body)
				}
			}
		})
	}
	// An absolute link to an endpoint of --dir (the same folder) is not a
	// page either.
	if res, body := httpRequest(t, nil, "GET", s.HTTPURL("/tool-link.txt"), nil); res.StatusCode == 200 || strings.Contains(body, "exec cat") {
		t.Errorf("GET /tool-link.txt: %d %q", res.StatusCode, body)
	}
}

// TestHTTPUncleanPath: a plain request on a path that is not clean ("..",
// ".", "//") is redirected to the clean path, query kept, as net/http's
// ServeMux does in websocketd; nothing outside the folder is ever served.
// An upgrade on such a path is served as the clean path would be: the
// endpoint a client following websocketd's redirect would reach.
func TestHTTPUncleanPath(t *testing.T) {
	t.Parallel()
	top := compatSite(t)
	www, cgi, ws := filepath.Join(top, "www"), filepath.Join(top, "cgi"), filepath.Join(top, "ws")
	s := startServer(t, "--staticdir="+www, "--cgidir="+cgi, "cat")
	for _, tt := range []struct {
		method, path string
		status       int
		location     string
	}{
		{"GET", "/sub/../hello.sh", 301, "/hello.sh"},
		{"GET", "/sub/../hello.html?a=b&c=%2F", 301, "/hello.html?a=b&c=%2F"},
		{"HEAD", "/./hello.html", 301, "/hello.html"},
		{"GET", "//hello.html", 301, "/hello.html"},
		{"GET", "/docs/./", 301, "/docs/"},
		{"GET", "/docs/..", 301, "/"},
		{"GET", "/%2e%2e/outside.txt", 301, "/outside.txt"},
		{"GET", "/sub/%2E%2E/%2e%2e/outside.txt", 301, "/outside.txt"},
		{"GET", "/../../etc/passwd", 301, "/etc/passwd"},
		{"GET", "/a/..%2f..%2fhello.html", 301, "/hello.html"},
		{"GET", "/x/..//evil.example/", 301, "/evil.example/"},
		{"GET", `/x/../\evil.example`, 301, "/%5Cevil.example"},
		{"POST", "/sub/../post.sh", 308, "/post.sh"},
		{"GET", "/hello.sh", 200, ""},
		{"GET", "/hello.html", 200, ""},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			status, location := rawRequest(t, s.addr, tt.method, tt.path, false)
			if status != tt.status || location != tt.location {
				t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, status, location, tt.status, tt.location)
			}
		})
	}
	// Following the redirect runs the script, and never leaves the folder.
	res, body := httpRequest(t, nil, "GET", s.HTTPURL("/hello.sh"), nil)
	if res.StatusCode != 200 || body != "hello from /hello.sh\n" {
		t.Errorf("GET /hello.sh: %d %q", res.StatusCode, body)
	}
	if res, body := httpRequest(t, nil, "GET", s.HTTPURL("/outside.txt"), nil); res.StatusCode != 404 || strings.Contains(body, "outside") {
		t.Errorf("GET /outside.txt: %d %q", res.StatusCode, body)
	}

	// Upgrades: the clean path's endpoint, nothing outside --dir.
	d := startServer(t, "--dir="+ws)
	env := readEnv(t, dialOpts(t, d.URL("/sub/../env.sh/room?x=1"), nil))
	if env["SCRIPT_NAME"] != "/env.sh" || env["PATH_INFO"] != "/room" || env["QUERY_STRING"] != "x=1" {
		t.Errorf("upgrade on /sub/../env.sh/room: SCRIPT_NAME=%q PATH_INFO=%q QUERY_STRING=%q", env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"])
	}
	for _, path := range []string{"/../outside.txt", "/%2e%2e/ws/chat.sh", "/x/../../ws/chat.sh"} {
		if status, _ := rawRequest(t, d.addr, "GET", path, true); status != 404 {
			t.Errorf("upgrade on %s: %d, want 404", path, status)
		}
	}
	if status, _ := rawRequest(t, d.addr, "GET", "//chat.sh", true); status != 101 {
		t.Errorf("upgrade on //chat.sh: %d, want 101", status)
	}
	// With a COMMAND every path is the endpoint; PATH_INFO is the clean path.
	c := startServer(t, "env")
	if env := readEnv(t, dialOpts(t, c.URL("/a/../b//c"), nil)); env["PATH_INFO"] != "/b/c" {
		t.Errorf("upgrade on /a/../b//c: PATH_INFO=%q, want /b/c", env["PATH_INFO"])
	}
}

// TestHTTPWebsocketdParity runs websocketd (Debian's package) and wsbridge
// with the same flags side by side and asks both the same raw requests:
// where wsbridge differs on purpose the row says so and why.
func TestHTTPWebsocketdParity(t *testing.T) {
	t.Parallel()
	wsd := need(t, "websocketd", "the reference the compatibility rows are checked against")
	top := compatSite(t)
	www, cgi, ws := filepath.Join(top, "www"), filepath.Join(top, "cgi"), filepath.Join(top, "ws")
	configs := map[string][]string{
		"files": {"--staticdir=" + www, "--cgidir=" + cgi, "cat"},
		"cmd":   {"cat"},
		"dir":   {"--staticdir=" + www, "--dir=" + ws},
	}
	type pair struct{ wsbridge, websocketd *server }
	servers := map[string]pair{}
	for name, args := range configs {
		servers[name] = pair{startServer(t, args...), startOnFreePort(t, nil, wsd, args...)}
	}
	type answer struct {
		status   int
		location string
	}
	for _, tt := range []struct {
		config  string
		path    string
		upgrade bool
		want    answer
		wsd     *answer // websocketd's answer where it differs
		why     string
	}{
		{config: "files", path: "/hello.html", want: answer{200, ""}},
		{config: "files", path: "/nonexistent.html", want: answer{404, ""}},
		{config: "files", path: "/hello.sh", want: answer{200, ""}},
		{config: "files", path: "/inside.html", want: answer{200, ""}},
		{config: "files", path: "/relative.html", want: answer{200, ""}},
		{config: "files", path: "/docs-abs", want: answer{301, "docs-abs/"}},
		{config: "files", path: "/sub/../hello.sh", want: answer{301, "/hello.sh"}},
		{config: "files", path: "/sub/../hello.html?a=b", want: answer{301, "/hello.html?a=b"}},
		{config: "files", path: "//hello.html", want: answer{301, "/hello.html"}},
		{config: "files", path: "/./hello.html", want: answer{301, "/hello.html"}},
		{config: "files", path: "/%2e%2e/outside.txt", want: answer{301, "/outside.txt"}},
		{config: "files", path: "/nonexistent.html", upgrade: true, want: answer{101, ""}},
		{config: "files", path: "/outside.html", want: answer{404, ""}, wsd: &answer{200, ""}, why: "links out of --staticdir are never followed"},
		{config: "files", path: "/.env", want: answer{404, ""}, wsd: &answer{200, ""}, why: "dotfiles are never served"},
		{config: "files", path: "/sub/", want: answer{404, ""}, wsd: &answer{200, ""}, why: "no folder listings"},
		{config: "files", path: "/sub/../hello.sh", upgrade: true, want: answer{101, ""}, wsd: &answer{301, "/hello.sh"}, why: "an upgrade is served as the clean path"},
		{config: "cmd", path: "/nonexistent.html", want: answer{426, ""}, wsd: &answer{404, ""}, why: "a lone COMMAND answers every path: 426 says to upgrade"},
		{config: "cmd", path: "/a/../b", want: answer{301, "/b"}},
		{config: "cmd", path: "/a/../b", upgrade: true, want: answer{101, ""}, wsd: &answer{301, "/b"}, why: "an upgrade is served as the clean path"},
		{config: "dir", path: "/nonexistent.html", want: answer{404, ""}},
		{config: "dir", path: "/nonexistent.html", upgrade: true, want: answer{404, ""}},
		{config: "dir", path: "/chat.sh", upgrade: true, want: answer{101, ""}},
		{config: "dir", path: "/linked.sh", upgrade: true, want: answer{404, ""}, wsd: &answer{101, ""}, why: "--dir follows no absolute link (unchanged)"},
		{config: "dir", path: "/chat.sh", want: answer{426, ""}, wsd: &answer{404, ""}, why: "a --dir script says it speaks WebSocket"},
		{config: "dir", path: "/sub/../chat.sh", want: answer{301, "/chat.sh"}},
		{config: "dir", path: "/sub/../chat.sh", upgrade: true, want: answer{101, ""}, wsd: &answer{301, "/chat.sh"}, why: "an upgrade is served as the clean path"},
		{config: "dir", path: "/../outside.txt", upgrade: true, want: answer{404, ""}, wsd: &answer{301, "/outside.txt"}, why: "an upgrade is served as the clean path, which is missing"},
	} {
		kind := "GET"
		if tt.upgrade {
			kind = "upgrade"
		}
		t.Run(tt.config+" "+kind+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			p := servers[tt.config]
			var got, gotWSD answer
			got.status, got.location = rawRequest(t, p.wsbridge.addr, "GET", tt.path, tt.upgrade)
			gotWSD.status, gotWSD.location = rawRequest(t, p.websocketd.addr, "GET", tt.path, tt.upgrade)
			wantWSD := tt.want
			if tt.wsd != nil {
				wantWSD = *tt.wsd
			}
			if got != tt.want {
				t.Errorf("wsbridge: %v, want %v", got, tt.want)
			}
			if gotWSD != wantWSD {
				t.Errorf("websocketd: %v, want %v (%s)", gotWSD, wantWSD, tt.why)
			}
		})
	}
}
