package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

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
		`wsbridge_build_info{version="0.1.0"}`:                    "1",
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
