package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// endpointsFile is the example configuration with programs that
// exist everywhere: a text echo, a binary echo, a terminal under a prefix
// and a broadcast feed whose lines carry the program's pid.
const endpointsFile = `
port = %d
address = "127.0.0.1"
metrics-address = "127.0.0.1:%d"

[[endpoint]]
path = "/echo"              # exact path; "/files/" (trailing slash) matches the prefix
command = ["cat"]

[[endpoint]]
path = "/raw"
command = ["cat"]
binary = true

[[endpoint]]
path = "/term/"
command = ["sh", "-c", "echo \"tty $SCRIPT_NAME $PATH_INFO\"; exec cat"]
terminal = true
writable = true

[[endpoint]]
path = "/dc/"
command = ["cat"]
devconsole = true

[[endpoint]]
path = "/feed"
command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo \"$$ tick $i\"; sleep 0.2; done"]
broadcast = true
replay = 20
`

// TestEndpointsExampleFile: one daemon serves the example file and
// --endpoint shorthands beside it, each path with its own command and kind;
// the longest path wins; a path no endpoint matches gets 404 before the
// upgrade, logged and counted.
func TestEndpointsExampleFile(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "wsbridge.toml")
	metricsPort := freePort(t)
	writeFile(t, conf, fmt.Sprintf(endpointsFile, freePort(t), metricsPort), 0o644)
	d := startDaemon(t, nil, "--config="+conf,
		`--endpoint=/words=printf '%s|%s\n' 'a b' "c \"d\""`,
		"--endpoint=/a/=echo a", "--endpoint=/a/b/=echo ab", "--endpoint=/env/=env")

	// Text on /echo, binary on /raw.
	c := dial(t, d.URL("/echo"))
	if got := echo(t, c, "hello"); got != "hello" {
		t.Errorf("/echo: %q", got)
	}
	c.Close(websocket.StatusNormalClosure, "")
	raw := dial(t, d.URL("/raw"))
	if err := raw.Write(t.Context(), websocket.MessageBinary, []byte{0, 1, 2, 0xff}); err != nil {
		t.Fatal(err)
	}
	if typ, b := readMsg(t, raw); typ != websocket.MessageBinary || string(b) != "\x00\x01\x02\xff" {
		t.Errorf("/raw: %v %q, want the binary bytes back", typ, b)
	}
	raw.Close(websocket.StatusNormalClosure, "")

	// The shorthand's command is split as a shell would.
	if got := readText(t, dial(t, d.URL("/words"))); got != `a b|c "d"` {
		t.Errorf("/words: %q", got)
	}
	// Longest prefix wins.
	for path, want := range map[string]string{"/a/": "a", "/a/x/y": "a", "/a/b/": "ab", "/a/b/c": "ab"} {
		if got := readText(t, dial(t, d.URL(path))); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	// Under a prefix, SCRIPT_NAME is the endpoint and PATH_INFO the rest.
	env := readEnv(t, dial(t, d.URL("/env/x/y")))
	if env["SCRIPT_NAME"] != "/env" || env["PATH_INFO"] != "/x/y" {
		t.Errorf("/env/x/y: SCRIPT_NAME=%q PATH_INFO=%q, want /env and /x/y", env["SCRIPT_NAME"], env["PATH_INFO"])
	}

	// The terminal: its page and assets at its prefix, its session there.
	client := httpClient(nil)
	res, body := httpRequest(t, client, "GET", d.HTTPURL("/term/"), nil)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "?asset=terminal.js") {
		t.Errorf("GET /term/: %d %q, want the terminal page", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res, _ := httpRequest(t, client, "GET", d.HTTPURL("/term/?asset=terminal.js"), nil); res.StatusCode != 200 {
		t.Errorf("GET /term/?asset=terminal.js: %d", res.StatusCode)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, _ := httpRequest(t, noRedirect, "GET", d.HTTPURL("/term?x=1"), nil); res.StatusCode != 301 || res.Header.Get("Location") != "/term/?x=1" {
		t.Errorf("GET /term: %d Location %q, want 301 to /term/?x=1", res.StatusCode, res.Header.Get("Location"))
	}
	if res, body := httpRequest(t, client, "GET", d.HTTPURL("/dc/room"), nil); res.StatusCode != 200 || !strings.Contains(body, "wsbridge dev console") {
		t.Errorf("GET /dc/room: %d, want the dev console of the /dc/ endpoint", res.StatusCode)
	}
	expectEcho(t, dial(t, d.URL("/dc/room")), "console")
	if res, _ := httpRequest(t, client, "GET", d.HTTPURL("/echo"), nil); res.StatusCode != 426 {
		t.Errorf("GET /echo: %d, want 426 (a WebSocket endpoint without a page)", res.StatusCode)
	}
	tc := ttyDial(t, d.URL("/term/x"), nil)
	if hello := tc.waitControl("hello"); !hello.Writable {
		t.Errorf("/term/: hello %+v, want a writable terminal", hello)
	}
	tc.waitOutput(`tty /term /x`)
	tc.send("typed\r")
	tc.waitOutput(`typed\r?\n.*typed`)

	// The feed: one program for every client, a late joiner replayed.
	f1 := dial(t, d.URL("/feed"))
	first := readText(t, f1)
	readText(t, f1)
	f2 := dial(t, d.URL("/feed"))
	if got := readText(t, f2); got != first {
		t.Errorf("/feed: the late joiner's first line %q, want the replayed %q", got, first)
	}

	// No endpoint: 404 before the upgrade, logged with the reason, counted.
	if code := dialStatus(t, d.URL("/nothing"), nil); code != 404 {
		t.Errorf("upgrade on /nothing: %d, want 404", code)
	}
	d.waitLog(t, 5*time.Second, "msg=refused", "path=/nothing", `reason="no endpoint matches the path"`)
	if code := dialStatus(t, d.URL("/echo/more"), nil); code != 404 {
		t.Errorf("upgrade on /echo/more (an exact endpoint's subpath): %d, want 404", code)
	}
	if res, _ := httpRequest(t, client, "GET", d.HTTPURL("/nothing.html"), nil); res.StatusCode != 404 {
		t.Errorf("GET /nothing.html: %d, want 404", res.StatusCode)
	}
	metrics := scrapeMetrics(t, "127.0.0.1:"+strconv.Itoa(metricsPort))
	if !regexp.MustCompile(`wsbridge_handshakes_refused_total\{reason="not_found"\} [3-9]`).MatchString(metrics) {
		t.Errorf("the three 404s are not counted:\n%s", grepLines(metrics, "refused"))
	}
}

// TestEndpointsStartupErrors: every mistake in an endpoint is a startup
// error naming its path and the key or flag.
func TestEndpointsStartupErrors(t *testing.T) {
	t.Parallel()
	table := func(keys string) string { return "[[endpoint]]\npath = \"/x\"\n" + keys + "\n" }
	for _, tt := range []struct {
		name string
		file string // a config file, if any
		args []string
		code int
		want string
	}{
		{"unknown key", table(`command = ["cat"]` + "\nbinry = true"), nil, 1, `:4: endpoint /x: unknown key "binry" (did you mean "binary"?)`},
		{"server-level key", table(`command = ["cat"]` + "\nport = 8080"), nil, 1, `endpoint /x: "port" is a server-level flag`},
		{"bad value", table(`command = ["cat"]` + "\nreplay = \"many\""), nil, 1, `endpoint /x: replay: want an integer`},
		{"bad path", "[[endpoint]]\npath = \"x/../y\"\ncommand = [\"cat\"]\n", nil, 1, `path: "x/../y": want an absolute, clean URL path`},
		{"no path", "[[endpoint]]\ncommand = [\"cat\"]\n", nil, 1, `[[endpoint]]: want a path`},
		{"duplicate path", table(`command = ["cat"]`) + table(`command = ["cat"]`), nil, 2, `endpoint /x: the path is given twice`},
		{"file and flag on one path", table(`command = ["cat"]`), []string{"--endpoint=/x=cat"}, 2, `endpoint /x: the path is given twice`},
		{"catch-all twice", "", []string{"--endpoint=/=cat", "cat"}, 2, `endpoint /: the path is given twice (COMMAND or --dir is the / endpoint)`},
		{"terminal with broadcast", table(`command = ["cat"]` + "\nterminal = true\nbroadcast = true"), nil, 2, `endpoint /x: --broadcast cannot be combined with --terminal`},
		{"global flag invalid for the endpoint", table(`command = ["cat"]` + "\nterminal = true"), []string{"--binary"}, 2, `endpoint /x: --terminal cannot be combined with --binary`},
		{"needs its kind", table(`command = ["cat"]` + "\nreplay = 3"), nil, 2, `endpoint /x: --replay needs --broadcast`},
		{"no command", table(`binary = true`), nil, 2, `endpoint /x: no command`},
		{"missing program", table(`command = ["/nonexistent/prog"]`), nil, 1, `endpoint /x: `},
		{"shorthand without a command", "", []string{"--endpoint=/x"}, 2, `--endpoint="/x": want PATH=COMMAND`},
		{"shorthand with a bad quote", "", []string{"--endpoint=/x=echo 'a"}, 2, `--endpoint="/x=echo 'a": a single quote is not closed`},
		{"shorthand with a bad path", "", []string{"--endpoint=x=cat"}, 2, `--endpoint="x=cat": "x": want an absolute, clean URL path`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--address=127.0.0.1", "--port=" + strconv.Itoa(freePort(t))}, tt.args...)
			if tt.file != "" {
				conf := writeFile(t, filepath.Join(t.TempDir(), "wsbridge.toml"), tt.file, 0o644)
				args = append([]string{"--config=" + conf}, args...)
			}
			code, out := runWsbridge(t, nil, args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want %d, and output with %q:\n%s", code, tt.code, tt.want, out)
			}
		})
	}
}

// TestEndpointsReload: SIGHUP reloads the endpoints. New sessions use the
// new table; running sessions, and the broadcast group of a changed
// endpoint, keep their old settings until they end; an unchanged endpoint
// keeps its group, which new clients join. A bad table is refused whole.
func TestEndpointsReload(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "wsbridge.toml")
	port := freePort(t)
	feed := `command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo \"$$ tick $i\"; sleep 0.1; done"]` + "\nbroadcast = true\n"
	write := func(endpoints string) {
		writeFile(t, conf, fmt.Sprintf("port = %d\naddress = \"127.0.0.1\"\n%s", port, endpoints), 0o644)
	}
	write(`
[[endpoint]]
path = "/echo"
command = ["cat"]

[[endpoint]]
path = "/keep"
` + feed + `
[[endpoint]]
path = "/feed"
` + feed + `
[[endpoint]]
path = "/gone"
command = ["cat"]
`)
	d := startDaemon(t, nil, "--config="+conf)

	old := dial(t, d.URL("/echo"))
	expectEcho(t, old, "before")
	keep1 := dial(t, d.URL("/keep"))
	keepPid := strings.Fields(readText(t, keep1))[0]
	feed1 := dial(t, d.URL("/feed"))
	feedPid := strings.Fields(readText(t, feed1))[0]

	write(`
[[endpoint]]
path = "/echo"
command = ["sed", "-u", "s/^/new:/"]

[[endpoint]]
path = "/keep"
` + feed + `
[[endpoint]]
path = "/feed"
` + feed + `replay = 1

[[endpoint]]
path = "/added/"
command = ["cat"]
`)
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, 10*time.Second, "reload done")
	d.waitLog(t, time.Second, `msg="endpoint changed`, "path=/echo")
	d.waitLog(t, time.Second, `msg="endpoint changed`, "path=/feed")
	d.waitLog(t, time.Second, `msg="endpoint added"`, "path=/added/")
	d.waitLog(t, time.Second, `msg="endpoint removed`, "path=/gone")
	if regexp.MustCompile(`msg="endpoint [a-z]+.*path=/keep`).MatchString(d.Stderr()) {
		t.Errorf("/keep did not change, yet the reload replaced it:\n%s", d.Stderr())
	}

	// The running session keeps its program; a new one gets the new one.
	expectEcho(t, old, "after")
	if got := echo(t, dial(t, d.URL("/echo")), "x"); got != "new:x" {
		t.Errorf("a new /echo session after the reload: %q, want new:x", got)
	}
	if code := dialStatus(t, d.URL("/gone"), nil); code != 404 {
		t.Errorf("/gone after the reload: %d, want 404", code)
	}
	expectEcho(t, dial(t, d.URL("/added/z")), "added")
	// Unchanged: a new client joins the running group.
	if pid := strings.Fields(readText(t, dial(t, d.URL("/keep"))))[0]; pid != keepPid {
		t.Errorf("a new /keep client got program %s, want the running group's %s", pid, keepPid)
	}
	// Changed: the old group goes on for its client, a new client gets a
	// new group on the new settings.
	feed2 := dial(t, d.URL("/feed"))
	if pid := strings.Fields(readText(t, feed2))[0]; pid == feedPid {
		t.Errorf("a new /feed client joined the group of the old settings (program %s)", pid)
	}
	for range 3 {
		if pid := strings.Fields(readText(t, feed1))[0]; pid != feedPid {
			t.Fatalf("the old /feed client now gets program %s, want its own %s", pid, feedPid)
		}
	}

	// A bad table is refused whole: the previous one keeps serving.
	write(`
[[endpoint]]
path = "/echo"
command = ["cat"]

[[endpoint]]
path = "/bad"
command = ["cat"]
terminal = true
broadcast = true
`)
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, 10*time.Second, "reload failed", "endpoint /bad: --broadcast cannot be combined with --terminal")
	if got := echo(t, dial(t, d.URL("/echo")), "y"); got != "new:y" {
		t.Errorf("/echo after a failed reload: %q, want the previous table's new:y", got)
	}
	if code := dialStatus(t, d.URL("/bad"), nil); code != 404 {
		t.Errorf("/bad after a failed reload: %d, want 404", code)
	}

	// A terminal where none was at startup would lack the origin check
	// and access token set up at startup: refused, until a restart.
	write(`
[[endpoint]]
path = "/term/"
command = ["sh"]
terminal = true
`)
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, 10*time.Second, "reload failed", "an endpoint became a terminal")
	if code := dialStatus(t, d.URL("/term/"), nil); code != 404 {
		t.Errorf("/term/ after a refused reload: %d, want 404", code)
	}
}

// TestEndpointsTerminalBehindProxySubPath: nginx serves wsbridge's /term/
// endpoint under its own /shell/ (ttyd #151, gotty #219); in Chromium the
// page loads its assets and opens its WebSocket through /shell/, and the
// shell answers.
func TestEndpointsTerminalBehindProxySubPath(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	nginx := need(t, "nginx", "reverse proxy test")
	d := startServer(t, "--endpoint=/term/=bash --norc --noprofile -i", "--terminal", "--writable")
	front := startNginxWith(t, nginx, fmt.Sprintf(`
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
server {
    listen %s;
    location /shell/ {
        proxy_pass http://%s/term/;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $http_host;
        proxy_buffering off;
    }
}
`, "%s", d.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("static", "tests", "subpath.browser.mjs"), "http://"+front+"/shell/")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", out)
	if err != nil {
		t.Fatalf("browser test: %v", err)
	}
	if !strings.Contains(string(out), "ok: no page errors") {
		t.Fatal("browser test did not get to the end")
	}
}

// startNginxWith runs nginx with site (an http{} block's content, whose
// "listen %s;" gets a free loopback address) and returns the address it
// listens on.
func startNginxWith(t *testing.T, nginx, site string) string {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return runNginx(t, nginx, t.TempDir(), strings.Replace(site, "%s", listen, 1), listen)
}

// TestEndpointsReloadClosesReplacedRedis: a reload that changes a --redis
// broadcast endpoint leaves the old endpoint its own connections to Redis
// for its running group; once the group has ended they are closed, not
// left open for the daemon's life (more of them at every reload).
func TestEndpointsReloadClosesReplacedRedis(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	self, err := rdb.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "wsbridge.toml")
	port := freePort(t)
	write := func(extra string) {
		writeFile(t, conf, fmt.Sprintf(`port = %d
address = "127.0.0.1"
redis = %q

[[endpoint]]
path = "/feed"
command = ["sh", "-c", "while :; do echo tick; sleep 0.1; done"]
broadcast = true
%s`, port, r.URL(), extra), 0o644)
	}
	write("")
	d := startDaemon(t, nil, "--config="+conf)
	c1 := dial(t, d.URL("/feed"))
	readText(t, c1)
	// Connections Redis reports older than the reload (its ages are whole
	// seconds) are the old endpoint's.
	time.Sleep(3 * time.Second)
	write("replay = 1\n")
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, 10*time.Second, `msg="endpoint changed`, "path=/feed")
	reloaded := time.Now()
	// A client of the new endpoint: with --redis it is another instance of
	// the same cluster-wide group, which the old endpoint's program runs.
	c2 := dial(t, d.URL("/feed"))
	readText(t, c2)
	older := func() []string {
		list, err := rdb.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		var old []string
		for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
			m := regexp.MustCompile(`\bid=(\d+) .*\bage=(\d+)`).FindStringSubmatch(line)
			if m == nil || m[1] == strconv.FormatInt(self, 10) {
				continue
			}
			if age, _ := strconv.ParseFloat(m[2], 64); age > time.Since(reloaded).Seconds()+1 {
				old = append(old, line)
			}
		}
		return old
	}
	if len(older()) == 0 {
		t.Fatal("Redis lists no connection of the old endpoint while its group runs: the test cannot tell")
	}
	c1.Close(websocket.StatusNormalClosure, "")
	c2.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(15 * time.Second)
	for {
		old := older()
		if len(old) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the group's last clients left, Redis still lists %d connections of the replaced endpoint:\n%s\n%s", len(old), strings.Join(old, "\n"), d.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEndpointsReloadMaxForks: --maxforks stays server-wide across a
// reload, also for the endpoints the reload keeps as they were.
func TestEndpointsReloadMaxForks(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "wsbridge.toml")
	port := freePort(t)
	write := func(maxforks int) {
		writeFile(t, conf, fmt.Sprintf("port = %d\naddress = \"127.0.0.1\"\nmaxforks = %d\n[[endpoint]]\npath = \"/e\"\ncommand = [\"cat\"]\n", port, maxforks), 0o644)
	}
	write(5)
	d := startDaemon(t, nil, "--config="+conf)
	write(1)
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, 10*time.Second, "reload done")
	expectEcho(t, dial(t, d.URL("/e")), "one")
	if code := dialStatus(t, d.URL("/e"), nil); code != 429 {
		t.Errorf("a second session at --maxforks=1 (reloaded from 5): %d, want 429", code)
	}
}

// TestEndpointsFlagAddedLater: a session flag another change added
// (--idle-timeout) is per-endpoint by its name in sessionFlags alone.
func TestEndpointsFlagAddedLater(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "wsbridge.toml")
	writeFile(t, conf, fmt.Sprintf(`port = %d
address = "127.0.0.1"
[[endpoint]]
path = "/idle"
command = ["cat"]
idle-timeout = "500ms"

[[endpoint]]
path = "/patient"
command = ["cat"]
`, freePort(t)), 0o644)
	d := startDaemon(t, nil, "--config="+conf)
	idle, patient := dial(t, d.URL("/idle")), dial(t, d.URL("/patient"))
	start := time.Now()
	_, code, reason := readUntilClose(t, idle)
	if code != 4408 || time.Since(start) > 10*time.Second {
		t.Errorf("/idle: closed %d %q after %v, want 4408 after about 500ms", code, reason, time.Since(start))
	}
	expectEcho(t, patient, "still here")
}

// TestEndpointsWritableTerminalTakesToken: a writable terminal endpoint
// reachable from other hosts takes the access token as --terminal does,
// and the printed URL leads to its page.
func TestEndpointsWritableTerminalTakesToken(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, filepath.Join(t.TempDir(), "wsbridge.toml"), `
[[endpoint]]
path = "/term/"
command = ["sh", "-c", "echo in-the-shell; exec cat"]
terminal = true
writable = true

[[endpoint]]
path = "/echo"
command = ["cat"]
`, 0o644)
	s, addr := startOnAllInterfaces(t, "--config="+conf)
	m := s.match(testTimeout, regexp.MustCompile(`http://\S+?(/term/)\?token=([A-Z2-7]{20,})`))
	if m == nil {
		t.Fatalf("no URL of /term/ with a token in the output:\n%s", s.Stderr())
	}
	token := m[2]
	opts := &websocket.DialOptions{Subprotocols: []string{ttyProto}}
	if code := dialStatus(t, "ws://"+addr+"/term/", opts); code != http.StatusForbidden {
		t.Errorf("terminal upgrade without the token: HTTP %d, want 403", code)
	}
	if res, _ := httpRequest(t, nil, "GET", "http://"+addr+"/term/", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("terminal page without the token: %d, want 403", res.StatusCode)
	}
	tc := ttyDial(t, "ws://"+addr+"/term/?token="+token, nil)
	tc.waitOutput("in-the-shell")
}
