package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// groupSession reads everything a session sends until it ends.
type groupSession struct {
	pgid  int
	lines []string
	err   error // how it ended
}

// collectGroup reads conn until it closes; the first message must be "pgid N".
func collectGroup(conn *websocket.Conn) *groupSession {
	s := new(groupSession)
	for {
		_, msg, err := readWithTimeout(conn)
		if err != nil {
			s.err = err
			return s
		}
		if s.pgid == 0 {
			if n, ok := strings.CutPrefix(string(msg), "pgid "); ok {
				s.pgid, _ = strconv.Atoi(n)
				continue
			}
		}
		s.lines = append(s.lines, string(msg))
	}
}

// TestSvcSIGTERMEndsSessionsGoingAway: on SIGTERM every client gets all
// the output its child wrote, then close 1001; the children and their
// process groups (grandchildren too) are gone; the daemon exits 0.
func TestSvcSIGTERMEndsSessionsGoingAway(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A child that traps nothing and writes a numbered line every 50 ms,
	// recording in a file each line once it has written it. With ?grand it
	// first starts two background sleeps, which a non-interactive shell
	// leaves ignoring SIGINT: only the group's SIGTERM ends them.
	script := writeScript(t, filepath.Join(dir, "ticker.sh"), fmt.Sprintf(`
if [ "$QUERY_STRING" = grand ]; then sleep 1000 & sleep 1000 & fi
echo "pgid $$"
i=0
while :; do
	echo "line $i"
	echo "line $i" >> %s/$$.log
	i=$((i+1))
	sleep 0.05
done
`, dir))
	d := startServer(t, script)

	var wg sync.WaitGroup
	queries := []string{"", "", "grand"}
	results := make([]*groupSession, len(queries))
	for i, q := range queries {
		c := dial(t, d.URL("/?"+q))
		wg.Go(func() { results[i] = collectGroup(c) })
	}
	time.Sleep(400 * time.Millisecond)
	sent := time.Now()
	d.signal(t, syscall.SIGTERM)
	if code := d.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	took := time.Since(sent)
	wg.Wait()

	for i, s := range results {
		if s.pgid == 0 {
			t.Fatalf("session %d: no pgid line; got %q, %v", i, s.lines, s.err)
		}
		if code := websocket.CloseStatus(s.err); code != websocket.StatusGoingAway {
			t.Errorf("session %d ended with %v, want close 1001", i, s.err)
		}
		// Every line the child wrote reached the client, in order.
		written, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(s.pgid)+".log"))
		if err != nil {
			t.Fatal(err)
		}
		wrote := strings.Split(strings.TrimSpace(string(written)), "\n")
		if len(s.lines) < len(wrote) || len(wrote) < 5 {
			t.Errorf("session %d: child wrote %d lines, client got %d", i, len(wrote), len(s.lines))
		}
		for j, l := range s.lines {
			if l != fmt.Sprintf("line %d", j) {
				t.Errorf("session %d: message %d is %q: lost or reordered output", i, j, l)
				break
			}
		}
		if !groupGone(s.pgid) {
			t.Errorf("session %d: process group %d still has members after the daemon exited", i, s.pgid)
			killGroup(s.pgid)
		}
	}
	// The grandchildren outlive SIGINT; SIGTERM, 350 ms into the kill
	// sequence, ends them.
	if took > 5*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	d.waitLog(t, time.Second, "shutting down")
}

// TestSvcShutdownTimeout: children that ignore SIGINT and SIGTERM are
// killed when --shutdown-timeout runs out, or at once on a second signal.
func TestSvcShutdownTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		signals int
		atMost  time.Duration
	}{
		// --closems=5000 stretches the kill sequence to over 15 s.
		{"timeout", []string{"--shutdown-timeout=500ms"}, 1, 4 * time.Second},
		{"second signal", nil, 2, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			script := writeScript(t, filepath.Join(dir, "stubborn.sh"), `trap '' INT TERM
echo "pgid $$"
while :; do echo x; sleep 0.05; done
`)
			args := append([]string{"--closems=5000"}, tt.args...)
			d := startServer(t, append(args, script)...)
			c := dial(t, d.URL("/"))
			done := make(chan *groupSession, 1)
			go func() { done <- collectGroup(c) }()
			time.Sleep(200 * time.Millisecond)
			start := time.Now()
			for i := 0; i < tt.signals; i++ {
				d.signal(t, syscall.SIGTERM)
				time.Sleep(100 * time.Millisecond)
			}
			if code := d.exitCode(t, tt.atMost+5*time.Second); code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			if took := time.Since(start); took > tt.atMost {
				t.Errorf("took %v, want at most %v", took, tt.atMost)
			}
			s := <-done
			if s.pgid == 0 || !groupGone(s.pgid) {
				t.Errorf("process group %d survived", s.pgid)
				if s.pgid > 0 {
					killGroup(s.pgid)
				}
			}
		})
	}
}

// TestSvcSIGHUPReload: SIGHUP applies the file's new --maxforks without
// touching the open session, keeps a command-line flag over the file, and
// says what changed and what needs a restart.
func TestSvcSIGHUPReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "wsbridge.toml")
	port := freePort(t)
	write := func(s string) { writeFile(t, conf, s, 0o644) }
	write(fmt.Sprintf("port = %d\naddress = \"127.0.0.1\"\nmaxforks = 1\npingms = 0\ncommand = [\"cat\"]\n", port))
	d := startDaemon(t, nil, "--config="+conf, "--closems=7")
	url := d.URL("/")

	first := dial(t, url)
	if got := echo(t, first, "one"); got != "one" {
		t.Fatalf("echo %q", got)
	}
	if got := dialStatus(t, url, nil); got != 429 {
		t.Fatalf("second session at maxforks=1: %d, want 429", got)
	}

	write(fmt.Sprintf("port = %d\naddress = \"127.0.0.1\"\nmaxforks = 2\npingms = 0\ncloseMs = 1\ncommand = [\"cat\"]\n", port+1))
	d.signal(t, syscall.SIGHUP)
	// A bad key makes the whole reload fail, and nothing change.
	d.waitLog(t, 5*time.Second, "reload failed")
	d.waitLog(t, time.Second, `unknown key \"closeMs\"`)

	write(fmt.Sprintf("port = %d\naddress = \"127.0.0.1\"\nmaxforks = 2\npingms = 0\nclosems = 100\ncommand = [\"cat\"]\n", port+1))
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, 5*time.Second, "msg=\"setting changed\" name=maxforks old=1 new=2")
	d.waitLog(t, time.Second, "needs a restart to apply\" name=port")
	second := dial(t, url)
	if got := echo(t, second, "two"); got != "two" {
		t.Fatalf("echo %q", got)
	}
	if got := echo(t, first, "still here"); got != "still here" {
		t.Fatalf("the first session did not survive the reload: %q", got)
	}
	if strings.Contains(d.Stderr(), "name=closems") {
		t.Errorf("--closems on the command line must win over the file:\n%s", d.Stderr())
	}
	first.Close(websocket.StatusNormalClosure, "")
	second.Close(websocket.StatusNormalClosure, "")
	d.signal(t, syscall.SIGTERM)
	if code := d.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// metricValue returns the value of the series named exactly name.
func metricValue(body, name string) string {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestSvcMetrics: /metrics counts a session, a refusal and the child's exit;
// /readyz turns 503 at --maxforks; none of it is on the public port.
func TestSvcMetrics(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startServer(t, "--metrics-address="+metricsAddr, "--maxforks=1", "cat")
	base := "http://" + metricsAddr

	if res, body := httpRequest(t, nil, "GET", base+"/healthz", nil); res.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", res.StatusCode, body)
	}
	if res, _ := httpRequest(t, nil, "GET", base+"/readyz", nil); res.StatusCode != 200 {
		t.Errorf("/readyz with no session: %d", res.StatusCode)
	}
	// The public port has no metrics.
	if res, body := httpRequest(t, nil, "GET", d.HTTPURL("/metrics"), nil); res.StatusCode == 200 || strings.Contains(body, "wsbridge_") {
		t.Errorf("public port answered /metrics: %d %q", res.StatusCode, body)
	}

	c := dial(t, d.URL("/"))
	for _, m := range []string{"hello", "metrics"} {
		if got := echo(t, c, m); got != m {
			t.Fatalf("echo %q", got)
		}
	}
	if res, body := httpRequest(t, nil, "GET", base+"/readyz", nil); res.StatusCode != 503 || !strings.Contains(body, "maxforks") {
		t.Errorf("/readyz at --maxforks: %d %q", res.StatusCode, body)
	}
	c.Close(websocket.StatusNormalClosure, "")
	d.waitLog(t, 5*time.Second, "msg=disconnect")

	_, body := httpRequest(t, nil, "GET", base+"/metrics", nil)
	for name, want := range map[string]string{
		"wsbridge_sessions_total":                                 "1",
		"wsbridge_sessions_active":                                "0",
		`wsbridge_messages_total{direction="in"}`:                 "2",
		`wsbridge_messages_total{direction="out"}`:                "2",
		`wsbridge_bytes_total{direction="in"}`:                    "12",
		`wsbridge_bytes_total{direction="out"}`:                   "12",
		`wsbridge_child_exits_total{close_code="1000"}`:           "1",
		`wsbridge_handshakes_refused_total{reason="bad_request"}`: "1",
		`wsbridge_handshakes_refused_total{reason="maxforks"}`:    "0",
		"wsbridge_spawn_failures_total":                           "0",
		"wsbridge_session_duration_seconds_count":                 "1",
		`wsbridge_session_duration_seconds_bucket{le="+Inf"}`:     "1",
		`wsbridge_build_info{version="` + binaryVersion(t) + `"}`: "1",
	} {
		if got := metricValue(body, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(body, "# TYPE wsbridge_session_duration_seconds histogram") {
		t.Errorf("no histogram TYPE line:\n%s", body)
	}
	if res, _ := httpRequest(t, nil, "GET", base+"/readyz", nil); res.StatusCode != 200 {
		t.Errorf("/readyz after the session: %d", res.StatusCode)
	}
}

// TestSvcJSONLogs: --logformat=json writes one object per line with the
// documented keys.
func TestSvcJSONLogs(t *testing.T) {
	t.Parallel()
	d := startServer(t, "--logformat=json", "cat")
	c := dial(t, d.URL("/chat?x=1"))
	echo(t, c, "hi")
	c.Close(websocket.StatusNormalClosure, "")
	d.waitLog(t, 5*time.Second, `"msg":"disconnect"`)
	d.signal(t, syscall.SIGTERM)
	if code := d.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
	var disconnect map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.Stderr()))
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Errorf("not a JSON object: %q: %v", sc.Text(), err)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := obj[k]; !ok {
				t.Errorf("line without %q: %s", k, sc.Text())
			}
		}
		if obj["msg"] == "disconnect" {
			disconnect = obj
		}
	}
	for _, k := range []string{"session", "remote", "path", "pid", "exit", "duration_ms", "bytes_in", "bytes_out"} {
		if _, ok := disconnect[k]; !ok {
			t.Errorf("disconnect line without %q: %v", k, disconnect)
		}
	}
	if disconnect["level"] != "ACCESS" || disconnect["path"] != "/chat" || disconnect["bytes_in"] != float64(2) {
		t.Errorf("disconnect line: %v", disconnect)
	}
}

// TestSvcConfigPrecedence: the config file, WSBRIDGE_* variables and the
// command line, each over the one before, decide the port; the file can
// give the command.
func TestSvcConfigPrecedence(t *testing.T) {
	t.Parallel()
	filePort, envPort, cliPort := freePort(t), freePort(t), freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "wsbridge.toml")
	writeFile(t, conf, fmt.Sprintf("# settings\nport = %d\naddress = [\"127.0.0.1\"]\ncommand = [\"cat\"]\n", filePort), 0o644)
	tests := []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"file", nil, nil, filePort},
		{"env over file", []string{fmt.Sprintf("WSBRIDGE_PORT=%d", envPort)}, nil, envPort},
		{"command line over env", []string{fmt.Sprintf("WSBRIDGE_PORT=%d", envPort)}, []string{fmt.Sprintf("--port=%d", cliPort)}, cliPort},
		{"config from env", []string{"WSBRIDGE_CONFIG=" + conf, fmt.Sprintf("WSBRIDGE_PORT=%d", envPort)}, []string{"-port", fmt.Sprint(cliPort)}, cliPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the ports are shared between the cases.
			args := tt.args
			if !strings.Contains(strings.Join(tt.env, " "), "WSBRIDGE_CONFIG") {
				args = append([]string{"--config=" + conf}, args...)
			}
			d := startDaemon(t, tt.env, args...)
			if want := fmt.Sprintf("127.0.0.1:%d", tt.want); d.addr != want {
				t.Errorf("listening on %s, want %s", d.addr, want)
			}
			c := dial(t, d.URL("/"))
			if got := echo(t, c, "from the file's command"); got != "from the file's command" {
				t.Errorf("echo %q", got)
			}
			c.Close(websocket.StatusNormalClosure, "")
			d.signal(t, syscall.SIGTERM)
			if code := d.exitCode(t, 10*time.Second); code != 0 {
				t.Errorf("exit status %d", code)
			}
		})
	}
}

// TestSvcConfigErrors: a bad file stops startup with exit status 1 and a
// message naming file, line and key.
func TestSvcConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		env        []string
		code       int
		want       string
	}{
		{"unknown key", "port = 1\n\nmaxfork = 3\n", nil, 1, `wsbridge.toml:3: unknown key "maxfork" (did you mean "maxforks"?)`},
		{"wrong type", "maxforks = \"many\"\n", nil, 1, "wsbridge.toml:1: maxforks: want an integer"},
		{"syntax", "port = = 1\n", nil, 1, "wsbridge.toml:1:"},
		{"bad env", "port = 1\n", []string{"WSBRIDGE_MAXFORKS=lots"}, 2, "WSBRIDGE_MAXFORKS"},
		{"no command anywhere", "port = 1\n", nil, 2, "no command given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conf := writeFile(t, filepath.Join(t.TempDir(), "wsbridge.toml"), tt.file, 0o644)
			args := []string{"--config=" + conf}
			if tt.name != "no command anywhere" {
				args = append(args, "cat")
			}
			code, out := runWsbridge(t, tt.env, args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d:\n%s", code, tt.code, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}

// TestSvcTrustedProxy: X-Forwarded-For and X-Forwarded-Proto reach the
// child as REMOTE_ADDR and HTTPS only from a --trusted-proxy peer.
func TestSvcTrustedProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := writeScript(t, filepath.Join(dir, "env.sh"), `echo "addr=$REMOTE_ADDR port=$REMOTE_PORT https=$HTTPS host=$REMOTE_HOST"
`)
	header := http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.9"}, "X-Forwarded-Proto": {"https"}}
	tests := []struct {
		name  string
		args  []string
		want  string
		wantR string // remote= in the access log
	}{
		{"trusted", []string{"--trusted-proxy=127.0.0.1/32"}, "addr=203.0.113.9 port= https=on host=203.0.113.9", "remote=203.0.113.9"},
		{"trust nobody", nil, "addr=127.0.0.1 port=", "remote=127.0.0.1:"},
		{"trusted elsewhere", []string{"--trusted-proxy=10.0.0.0/8"}, "addr=127.0.0.1 port=", "remote=127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := startServer(t, append(tt.args, script)...)
			c := dialOpts(t, d.URL("/"), &websocket.DialOptions{HTTPHeader: header})
			_, msg := readMsg(t, c)
			if !strings.HasPrefix(string(msg), tt.want) {
				t.Errorf("child saw %q, want %q", msg, tt.want)
			}
			if strings.Contains(tt.want, "https=on") != strings.Contains(string(msg), "https=on") {
				t.Errorf("HTTPS: child saw %q", msg)
			}
			d.waitLog(t, 5*time.Second, "msg=connect")
			if !strings.Contains(d.Stderr(), tt.wantR) {
				t.Errorf("access log lacks %q:\n%s", tt.wantR, d.Stderr())
			}
		})
	}
}

// notifyReceiver is a NOTIFY_SOCKET: it collects what sd_notify sends.
type notifyReceiver struct {
	path string
	conn *net.UnixConn
	wg   sync.WaitGroup

	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifyReceiver {
	t.Helper()
	r := &notifyReceiver{path: filepath.Join(shortTempDir(t), "notify")}
	var err error
	r.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: r.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	r.wg.Go(func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := r.conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, string(buf[:n]))
			r.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		r.conn.Close()
		r.wg.Wait()
	})
	return r
}

// waitFor waits for a datagram containing s and returns its index.
func (r *notifyReceiver) waitFor(t *testing.T, s string, after int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for i := after; i < len(r.msgs); i++ {
			if strings.Contains(r.msgs[i], s) {
				r.mu.Unlock()
				return i
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("no %q from sd_notify after message %d; got %q", s, after, r.msgs)
	return -1
}

// TestSvcSystemdNotify: READY=1 once listening, WATCHDOG=1 pings when
// WATCHDOG_USEC is set, RELOADING=1 then READY=1 around a SIGHUP reload,
// STOPPING=1 on SIGTERM.
func TestSvcSystemdNotify(t *testing.T) {
	t.Parallel()
	r := listenNotify(t)
	d := startServerEnv(t, []string{"NOTIFY_SOCKET=" + r.path, "WATCHDOG_USEC=200000"}, "cat")
	ready := r.waitFor(t, "READY=1", 0)
	r.mu.Lock()
	if !strings.Contains(r.msgs[ready], "STATUS=listening on "+d.addr) {
		t.Errorf("READY without the address in STATUS: %q", r.msgs[ready])
	}
	r.mu.Unlock()
	// Pings at half the interval: several within half a second.
	w := r.waitFor(t, "WATCHDOG=1", 0)
	r.waitFor(t, "WATCHDOG=1", w+1)

	d.signal(t, syscall.SIGHUP)
	rel := r.waitFor(t, "RELOADING=1", 0)
	r.mu.Lock()
	if !regexp.MustCompile(`MONOTONIC_USEC=\d+`).MatchString(r.msgs[rel]) {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", r.msgs[rel])
	}
	r.mu.Unlock()
	r.waitFor(t, "READY=1", rel+1)

	d.signal(t, syscall.SIGTERM)
	r.waitFor(t, "STOPPING=1", rel+1)
	if code := d.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestSvcSocketActivation runs wsbridge under Debian's systemd-socket-activate,
// which listens, then on the first connection execs wsbridge with the socket
// as fd 3 (LISTEN_FDS=1): a WebSocket round trip through it, and with two
// named sockets, metrics on the one called "metrics". The --port and
// --address it does not use, from the flags or the config file, are named
// in a warning.
func TestSvcSocketActivation(t *testing.T) {
	t.Parallel()
	activate := need(t, "systemd-socket-activate", "socket activation test")
	bin := wsbridgeBinary(t)
	tests := []struct {
		name    string
		metrics bool
	}{
		{"one socket", false},
		{"named sockets", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			args := []string{"-l", web}
			metrics := ""
			if tt.metrics {
				metrics = fmt.Sprintf("127.0.0.1:%d", freePort(t))
				args = append(args, "-l", metrics, "--fdname=web:metrics")
			}
			// --port and --address are not used when systemd passes
			// sockets, and wsbridge says so.
			args = append(args, bin, "--port=1")
			if tt.metrics {
				conf := filepath.Join(t.TempDir(), "wsbridge.toml")
				if err := os.WriteFile(conf, []byte("address = [\"127.0.0.1\"]\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config="+conf, "cat")
			} else {
				args = append(args, "--address=127.0.0.1", "cat")
			}
			p := startProgram(t, nil, activate, args...)
			if p.match(10*time.Second, regexp.MustCompile(`Listening on `+regexp.QuoteMeta(web))) == nil {
				if strings.Contains(p.Stderr(), "rror") {
					skipUnlessCI(t, "systemd-socket-activate cannot run here:\n"+p.Stderr())
				}
				t.Fatalf("systemd-socket-activate did not listen:\n%s", p.Stderr())
			}
			c := dial(t, "ws://"+web+"/")
			if got := echo(t, c, "through systemd"); got != "through systemd" {
				t.Errorf("echo %q", got)
			}
			c.Close(websocket.StatusNormalClosure, "")
			p.waitLog(t, 5*time.Second, "msg=listening address="+web)
			p.waitLog(t, 5*time.Second, "level=WARN", "socket activation", `unused="--address=127.0.0.1 --port=1"`)
			if tt.metrics {
				_, body := httpRequest(t, nil, "GET", "http://"+metrics+"/metrics", nil)
				if !strings.Contains(body, "wsbridge_sessions_total 1") {
					t.Errorf("metrics on the socket named metrics:\n%s", body)
				}
			}
			p.signal(t, syscall.SIGTERM)
			if code := p.exitCode(t, 10*time.Second); code != 0 {
				t.Errorf("exit status %d:\n%s", code, p.Stderr())
			}
		})
	}
}

// TestSvcSystemdUnitsVerify checks examples/systemd with systemd-analyze
// verify. It wants ExecStart's binary to exist, so a copy of the units
// points at the binary just built.
func TestSvcSystemdUnitsVerify(t *testing.T) {
	t.Parallel()
	analyze := need(t, "systemd-analyze", "unit file check")
	bin := wsbridgeBinary(t)
	dir := t.TempDir()
	units := []string{"wsbridge.service", "wsbridge.socket", "wsbridge-metrics.socket"}
	for _, name := range units {
		data, err := os.ReadFile(filepath.Join("examples", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(data), "/usr/local/bin/wsbridge", bin)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The example socket stays on loopback: a public port is a choice to
	// make in the unit, not a default.
	if socket, _ := os.ReadFile(filepath.Join("examples", "systemd", "wsbridge.socket")); !regexp.MustCompile(`(?m)^ListenStream=127\.0\.0\.1:8080$`).Match(socket) {
		t.Errorf("examples/systemd/wsbridge.socket does not listen on 127.0.0.1:8080:\n%s", socket)
	}
	args := []string{"verify", "--man=no"}
	for _, name := range units {
		args = append(args, filepath.Join(dir, name))
	}
	cmd := exec.Command(analyze, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	// Outside a booted systemd, verify may still complain about the
	// machine itself; only lines about our units count.
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "wsbridge.") {
			problems = append(problems, line)
		}
	}
	if err != nil || len(problems) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// startNginx runs Debian's nginx in the foreground with examples/nginx/wsbridge.conf
// proxying to upstream, and returns the address it listens on.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	return startNginxSite(t, "wsbridge.conf", "listen 8081;", map[string]string{"server 127.0.0.1:8080": "server " + upstream})
}

// startNginxSite runs nginx with the site examples/nginx/NAME, its
// listenDirective replaced by a free loopback port and each key of subs
// by its value, and returns the address it listens on.
func startNginxSite(t *testing.T, name, listenDirective string, subs map[string]string) string {
	t.Helper()
	nginx := need(t, "nginx", "reverse proxy test")
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("examples", "nginx", name))
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	site := string(example)
	subs[listenDirective] = "listen " + listen + ";"
	for old, repl := range subs {
		if !strings.Contains(site, old) {
			t.Fatalf("examples/nginx/%s has no %q to substitute", name, old)
		}
		site = strings.Replace(site, old, repl, 1)
	}
	return runNginx(t, nginx, dir, site, listen)
}

// runNginx runs nginx in the foreground in dir with site (the content of
// its http{} block, listening on listen) and returns listen once it
// accepts connections.
func runNginx(t *testing.T, nginx, dir, site, listen string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "wsbridge.conf"), site, 0o644)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the 0700 temp dir
	}
	conf := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	include %[2]s/wsbridge.conf;
}
`, user, dir)
	confPath := writeFile(t, filepath.Join(dir, "nginx.conf"), conf, 0o644)
	if out, err := exec.Command(nginx, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", log)
		}
	})
	p := startProgram(t, nil, nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	p.waitDial(t, "tcp", listen)
	return listen
}

// TestSvcNginx: a real session through nginx configured by the example:
// upgrade, messages both ways, the child's exit status as the close code,
// and the client's own address as REMOTE_ADDR when wsbridge trusts nginx.
func TestSvcNginx(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := writeScript(t, filepath.Join(dir, "once.sh"), `echo "addr=$REMOTE_ADDR https=$HTTPS"
read line
echo "got $line"
exit 3
`)
	tests := []struct {
		name string
		args []string
		want string
	}{
		// The client dials nginx from 127.0.0.5; nginx reaches wsbridge
		// from 127.0.0.1.
		{"trusted proxy", []string{"--trusted-proxy=127.0.0.1/32"}, "addr=127.0.0.5 https="},
		{"proxy not trusted", nil, "addr=127.0.0.1 https="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			front := startNginx(t, startServer(t, append(tt.args, script)...).addr)

			dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
			client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
			c, resp, err := tryDial(t, "ws://"+front+"/", &websocket.DialOptions{HTTPClient: client})
			if err != nil {
				t.Fatalf("dial through nginx: %v", err)
			}
			if resp.Header.Get("Server") == "" || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
				t.Errorf("not answered by nginx: Server %q", resp.Header.Get("Server"))
			}
			_, msg, err := readWithTimeout(c)
			if err != nil || string(msg) != tt.want {
				t.Errorf("first message %q, %v; want %q", msg, err, tt.want)
			}
			if got := echo(t, c, "through nginx"); got != "got through nginx" {
				t.Errorf("echo %q", got)
			}
			_, _, err = readWithTimeout(c)
			if code := websocket.CloseStatus(err); code != 4003 {
				t.Errorf("ended with %v, want close 4003 (exit status 3) through nginx", err)
			}
		})
	}
}

// Refusals in front of the session handler (origin, auth) are counted too.
func TestMetricsCountOriginAndAuthRefusals(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, "--origin=example.com", "--credential=alice:secret", "--metrics-address="+metricsAddr, "cat")

	upgrade := func(origin string, withCreds bool) int {
		req, _ := http.NewRequest("GET", s.HTTPURL("/"), nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Origin", origin)
		if withCreds {
			req.SetBasicAuth("alice", "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := upgrade("http://evil.example", true); code != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: %d, want 403", code)
	}
	if code := upgrade("http://example.com", false); code != http.StatusUnauthorized {
		t.Fatalf("upgrade without credentials: %d, want 401", code)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`wsbridge_handshakes_refused_total{reason="origin"} 1`,
		`wsbridge_handshakes_refused_total{reason="auth"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// startLimited runs wsbridge on a free port under a shell that first sets
// the file-descriptor limits: ulimits such as `-S -n 256`, then
// `-H -n 4096`, in order.
func startLimited(t *testing.T, ulimits []string, args ...string) *server {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	_, port := splitPort(addr)
	shell := ""
	for _, u := range ulimits {
		shell += "ulimit " + u + " && "
	}
	shell += `exec "$0" "$@"`
	s := startProgram(t, nil, "sh", append([]string{"-c", shell, wsbridgeBinary(t), "--address=127.0.0.1", "--port=" + port}, args...)...)
	s.addr = addr
	s.waitDial(t, "tcp", addr)
	return s
}

func splitPort(addr string) (string, string) {
	host, port, _ := net.SplitHostPort(addr)
	return host, port
}

// TestSvcFDReserve: at the file-descriptor limit an upgrade is refused
// before it happens, 503 with Retry-After, logged and counted; a client is
// never upgraded and then closed 1011 because a spawn found no descriptor;
// and sessions are admitted again as soon as some end (issue 9, point 10).
func TestSvcFDReserve(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startLimited(t, []string{"-n 64"}, "--metrics-address="+metricsAddr, "cat")

	// Open sessions until refused twice in a row, the second time after a
	// pause: the first refusal may come from the estimate, the second
	// from a fresh count of the descriptors.
	var open []*websocket.Conn
	var refused *http.Response
	for i := 0; i < 40; i++ {
		c, res, err := tryDial(t, s.URL("/"), nil)
		if err != nil {
			if res == nil {
				t.Fatalf("session %d: %v, no HTTP answer", i, err)
			}
			if refused != nil {
				break
			}
			refused = res
			time.Sleep(20 * time.Millisecond)
			continue
		}
		refused = nil
		// An admitted client gets its session: its program runs.
		msg := fmt.Sprintf("session %d", i)
		writeText(t, c, msg)
		if _, b, err := readWithTimeout(c); err != nil || string(b) != msg {
			code, reason := closeStatus(err)
			t.Fatalf("session %d: read %q, %v (close %d %q): upgraded, then failed", i, b, err, code, reason)
		}
		open = append(open, c)
	}
	if refused == nil {
		t.Fatalf("%d sessions under a limit of 64 descriptors, none refused", len(open))
	}
	if refused.StatusCode != http.StatusServiceUnavailable || refused.Header.Get("Retry-After") == "" {
		t.Fatalf("refusal: %s, Retry-After %q; want 503 with Retry-After", refused.Status, refused.Header.Get("Retry-After"))
	}
	if len(open) < 3 {
		t.Errorf("refused after %d sessions: the reserve leaves too little", len(open))
	}
	line := s.waitLog(t, 5*time.Second, "msg=refused", "reason=fds")
	if !strings.Contains(line, "level=ACCESS") || !strings.Contains(line, "limit=64") {
		t.Errorf("refusal logged as %q", line)
	}
	s.waitLog(t, 5*time.Second, "level=WARN", "file descriptors short")
	_, body := httpRequest(t, nil, "GET", "http://"+metricsAddr+"/metrics", nil)
	if n, _ := strconv.Atoi(metricValue(body, `wsbridge_handshakes_refused_total{reason="fds"}`)); n < 1 {
		t.Errorf(`wsbridge_handshakes_refused_total{reason="fds"} = %d, want at least 1`, n)
	}
	if got := metricValue(body, "wsbridge_spawn_failures_total"); got != "0" {
		t.Errorf("wsbridge_spawn_failures_total = %s, want 0", got)
	}
	if res, body := httpRequest(t, nil, "GET", "http://"+metricsAddr+"/readyz", nil); res.StatusCode != 503 || !strings.Contains(body, "file descriptors") {
		t.Errorf("/readyz while short: %d %q\n%s", res.StatusCode, body, s.Stderr())
	}

	// Two sessions end: a new client is admitted at once.
	for _, c := range open[:2] {
		c.Close(websocket.StatusNormalClosure, "")
	}
	s.await(5*time.Second, func(out string) bool { return strings.Count(out, "msg=disconnect") >= 2 })
	// Ready again without a client having to try first: a load balancer
	// waits for /readyz before it sends any.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, body := httpRequest(t, nil, "GET", "http://"+metricsAddr+"/readyz", nil)
		if res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after sessions ended: %d %q", res.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := dial(t, s.URL("/"))
	expectEcho(t, c, "back")
	s.waitLog(t, 5*time.Second, "file descriptors available again")
}

// TestSvcFDLimitRaised: the soft limit on file descriptors is raised to
// the hard one at startup and both are logged, while the programs wsbridge
// starts get the original soft limit back (issue 9, point 10).
func TestSvcFDLimitRaised(t *testing.T) {
	t.Parallel()
	s := startLimited(t, []string{"-S -n 256", "-H -n 4096"}, "sh", "-c", "ulimit -S -n; ulimit -H -n")
	// Go raises it to the hard limit less one: see bridge/server/fdlimit.go.
	s.waitLog(t, 5*time.Second, "level=INFO", `msg="file descriptors"`, "soft=4095", "hard=4096")
	lines, code, _ := readUntilClose(t, dial(t, s.URL("/")))
	if code != websocket.StatusNormalClosure || strings.Join(lines, " ") != "256 4096" {
		t.Errorf("the program saw %q (close %d), want the original limits 256 4096", lines, code)
	}
}
