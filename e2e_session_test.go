package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/gatetest"
)

func TestTextLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		want   []string
		code   websocket.StatusCode
		reason string
	}{
		{"lines and empty lines", `printf 'a\n\nb\n'`, []string{"a", "", "b"}, websocket.StatusNormalClosure, ""},
		{"crlf stripped", `printf 'a\r\nb\r\n'`, []string{"a", "b"}, websocket.StatusNormalClosure, ""},
		{"final line without newline", `printf 'a\nlast'`, []string{"a", "last"}, websocket.StatusNormalClosure, ""},
		{"exit status", `echo x; exit 3`, []string{"x"}, 4003, "exit status 3"},
		{"exit status 255", `exit 255`, nil, 4255, "exit status 255"},
		{"killed by signal", `echo x; kill -KILL $$`, []string{"x"}, websocket.StatusInternalError, "killed by signal KILL"},
		{"invalid utf-8 replaced", `printf 'a\377b\n'`, []string{"a\uFFFDb"}, websocket.StatusNormalClosure, ""},
		{"utf-8 kept", `printf 'h\303\251llo \342\202\254\n'`, []string{"héllo €"}, websocket.StatusNormalClosure, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, script(t, tt.script))
			c := dial(t, s.URL("/"))
			msgs, code, reason := readUntilClose(t, c)
			if strings.Join(msgs, "|") != strings.Join(tt.want, "|") || len(msgs) != len(tt.want) {
				t.Errorf("messages %q, want %q", msgs, tt.want)
			}
			if code != tt.code || reason != tt.reason {
				t.Errorf("close %d %q, want %d %q", code, reason, tt.code, tt.reason)
			}
		})
	}
}

func TestEchoThroughCat(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	c := dial(t, s.URL("/"))
	for _, m := range []string{"hello", "", "with\ttab", "ünïcödé"} {
		writeText(t, c, m)
		if got := readText(t, c); got != m {
			t.Fatalf("echo %q, got %q", m, got)
		}
	}
	// Many messages in one burst all arrive, in order.
	for i := 0; i < 500; i++ {
		writeText(t, c, strconv.Itoa(i))
	}
	for i := 0; i < 500; i++ {
		if got := readText(t, c); got != strconv.Itoa(i) {
			t.Fatalf("message %d: got %q", i, got)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func TestBinaryMode(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--binary", "cat")
	c := dial(t, s.URL("/"))
	payload := []byte{0, 1, 2, 0xff, '\n', 0xfe}
	if err := c.Write(context.Background(), websocket.MessageBinary, payload); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < len(payload) {
		typ, b := readMsg(t, c)
		if typ != websocket.MessageBinary {
			t.Fatalf("got %v, want binary", typ)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("got %v, want %v", got, payload)
	}
}

func TestBinaryMessageInTextModeCloses1003(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	c := dial(t, s.URL("/"))
	c.Write(context.Background(), websocket.MessageBinary, []byte("x"))
	_, code, reason := readUntilClose(t, c)
	if code != websocket.StatusUnsupportedData || !strings.Contains(reason, "text mode") {
		t.Fatalf("close %d %q, want 1003 naming text mode", code, reason)
	}
}

func TestInvalidUTF8FromClientCloses1007(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "in.txt")
	s := startServer(t, script(t, "cat > "+out))
	c := dial(t, s.URL("/"))
	// The bad byte comes after more than one read buffer of good text: none
	// of the message may reach the child.
	c.Write(context.Background(), websocket.MessageText, append([]byte(strings.Repeat("a", 40000)), 0xff))
	_, code, _ := readUntilClose(t, c)
	if code != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("close %d, want 1007", code)
	}
	s.waitLog(t, 5*time.Second, "disconnect")
	if b, _ := os.ReadFile(out); len(b) != 0 {
		t.Fatalf("child got %d bytes of an invalid message", len(b))
	}
}

func TestMaxFrameSize(t *testing.T) {
	t.Parallel()
	t.Run("inbound limit closes 1009", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "--maxframesize=100", "cat")
		c := dial(t, s.URL("/"))
		writeText(t, c, strings.Repeat("a", 100))
		if got := readText(t, c); len(got) != 100 {
			t.Fatalf("100-byte message echoed as %d bytes", len(got))
		}
		c.Write(context.Background(), websocket.MessageText, []byte(strings.Repeat("a", 101)))
		_, code, _ := readUntilClose(t, c)
		if code != websocket.StatusMessageTooBig {
			t.Fatalf("close %d, want 1009", code)
		}
	})
	t.Run("a message over the limit never reaches the child", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "in.txt")
		s := startServer(t, "--maxframesize=10", script(t, "cat > "+out))
		c := dial(t, s.URL("/"))
		writeText(t, c, "ok")
		c.Write(context.Background(), websocket.MessageText, []byte("0123456789A"))
		_, code, reason := readUntilClose(t, c)
		if code != websocket.StatusMessageTooBig || !strings.Contains(reason, "--maxframesize=10") {
			t.Fatalf("close %d %q, want 1009 naming --maxframesize=10", code, reason)
		}
		s.waitLog(t, 5*time.Second, "disconnect")
		if b, _ := os.ReadFile(out); string(b) != "ok\n" {
			t.Fatalf("child got %q, want only the complete message", b)
		}
	})
	t.Run("long output line split into pieces", func(t *testing.T) {
		t.Parallel()
		// 250 kB line, limit 100 kB: pieces of 100k, 100k, 50k, nothing lost.
		s := startServer(t, "--maxframesize=100000", script(t, `head -c 250000 /dev/zero | tr '\0' x; echo; echo next`))
		c := dial(t, s.URL("/"))
		msgs, code, _ := readUntilClose(t, c)
		if code != websocket.StatusNormalClosure {
			t.Fatalf("close %d", code)
		}
		var lens []int
		for _, m := range msgs {
			lens = append(lens, len(m))
		}
		if fmt.Sprint(lens) != "[100000 100000 50000 4]" {
			t.Fatalf("piece sizes %v, want [100000 100000 50000 4]", lens)
		}
	})
	t.Run("line longer than the read buffer stays whole", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, script(t, `head -c 300000 /dev/zero | tr '\0' y; echo`))
		c := dial(t, s.URL("/"))
		msgs, _, _ := readUntilClose(t, c)
		if len(msgs) != 1 || len(msgs[0]) != 300000 || strings.Trim(msgs[0], "y") != "" {
			t.Fatalf("got %d messages (first %d bytes), want one of 300000", len(msgs), len(msgs[0]))
		}
	})
	t.Run("split keeps characters whole", func(t *testing.T) {
		t.Parallel()
		// "é" is two bytes: an odd limit must not cut one in half.
		s := startServer(t, "--maxframesize=5", script(t, `printf '\303\251\303\251\303\251\n'`))
		c := dial(t, s.URL("/"))
		msgs, _, _ := readUntilClose(t, c)
		if strings.Join(msgs, "|") != "éé|é" {
			t.Fatalf("got %q", msgs)
		}
	})
}

func TestStderrIsLogged(t *testing.T) {
	t.Parallel()
	s := startServer(t, script(t, `echo out; echo "oops on stderr" >&2; head -c 10000 /dev/zero | tr '\0' e >&2; echo >&2`))
	c := dial(t, s.URL("/"))
	msgs, _, _ := readUntilClose(t, c)
	if strings.Join(msgs, "|") != "out" {
		t.Fatalf("client got %q; stderr must not reach it", msgs)
	}
	line := s.waitLog(t, 5*time.Second, "stderr", "oops on stderr")
	if !strings.Contains(line, "session=") {
		t.Errorf("stderr log line lacks the session id: %s", line)
	}
	// A line far longer than websocketd's 4096-byte limit is read whole.
	s.waitLog(t, 5*time.Second, "stderr", strings.Repeat("e", 10000))
}

func TestPassStderr(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--passstderr", script(t, `echo 'out "1"'; sleep 0.1; echo err >&2`))
	c := dial(t, s.URL("/"))
	msgs, code, _ := readUntilClose(t, c)
	if code != websocket.StatusNormalClosure {
		t.Fatalf("close %d", code)
	}
	type line struct{ Stream, Data string }
	var got []line
	for _, m := range msgs {
		var l line
		if err := json.Unmarshal([]byte(m), &l); err != nil {
			t.Fatalf("%q is not JSON: %v", m, err)
		}
		got = append(got, l)
	}
	want := []line{{"stdout", `out "1"`}, {"stderr", "err"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// With --passstderr a stderr line reaches the client and the log both, at
// the level and in the form it is logged without the flag (as websocketd's
// TestIssue459_PassStderrTagsBothStreams expects).
func TestPassStderrAlsoLogs(t *testing.T) {
	t.Parallel()
	prog := script(t, `echo "oops on stderr" >&2; echo out`)
	plain := startServer(t, prog)
	c := dial(t, plain.URL("/"))
	readUntilClose(t, c)
	want := plain.waitLog(t, 5*time.Second, "msg=stderr", "oops on stderr")
	level := strings.Fields(want)[1] // time=... level=... msg=stderr

	s := startServer(t, "--passstderr", prog)
	c = dial(t, s.URL("/"))
	msgs, _, _ := readUntilClose(t, c)
	if !slices.Contains(msgs, `{"stream":"stderr","data":"oops on stderr"}`) {
		t.Fatalf("client got %q, want the stderr line", msgs)
	}
	line := s.waitLog(t, 5*time.Second, "msg=stderr", "oops on stderr")
	if got := strings.Fields(line)[1]; got != level {
		t.Fatalf("stderr logged as %q with --passstderr, %q without: %s", got, level, line)
	}
}

// pidsOf reads the pids a test script recorded, one per line.
func pidsOf(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitPids waits until a test script has recorded at least n pids in path,
// and returns them.
func waitPids(t *testing.T, path string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		if _, err := os.Stat(path); err == nil {
			if pids := pidsOf(t, path); len(pids) >= n {
				return pids
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: fewer than %d pids after %v", path, n, testTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still alive after %v", pid, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// stubbornScript ignores INT, TERM and HUP and starts a grandchild that does
// the same; both record their pids in pidfile.
func stubbornScript(t *testing.T, pidfile string) string {
	return script(t, fmt.Sprintf(`trap '' INT TERM HUP
sh -c 'trap "" INT TERM HUP; echo $$ >> %[1]s; while :; do sleep 0.05; done' &
echo $$ >> %[1]s
echo ready
while :; do sleep 0.05; done
`, pidfile))
}

func TestClientLeavesKillsWholeGroup(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "pids")
	s := startServer(t, stubbornScript(t, pidfile))
	c := dial(t, s.URL("/"))
	if got := readText(t, c); got != "ready" {
		t.Fatalf("got %q", got)
	}
	pids := waitPids(t, pidfile, 2)
	start := time.Now()
	c.CloseNow() // TCP close without a close frame
	// 100+250+500 ms of waits, then SIGKILL.
	waitGone(t, pids, 5*time.Second)
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Errorf("group gone after %v: the kill sequence's waits were skipped", d)
	}
	s.waitLog(t, 5*time.Second, "disconnect", "killed by signal KILL")
}

func TestKillSequenceStopsAtSIGINT(t *testing.T) {
	t.Parallel()
	// A child that exits on SIGINT reports it: the sequence went no further.
	s := startServer(t, script(t, `trap 'echo got-int >&2; exit 7' INT; echo ready; while :; do sleep 0.05; done`))
	c := dial(t, s.URL("/"))
	readText(t, c)
	c.Close(websocket.StatusNormalClosure, "bye")
	s.waitLog(t, 5*time.Second, "stderr", "got-int")
	s.waitLog(t, 5*time.Second, "disconnect", "exit status 7")
}

func TestStdinCloseEndsCat(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	c := dial(t, s.URL("/"))
	writeText(t, c, "x")
	readText(t, c)
	c.Close(websocket.StatusNormalClosure, "")
	// cat exits on EOF at once, long before SIGINT would be sent.
	line := s.waitLog(t, 5*time.Second, "disconnect")
	if !strings.Contains(line, `exit="exit status 0"`) {
		t.Fatalf("cat did not exit 0 on stdin close: %s", line)
	}
}

func TestChildClosesStdoutButRuns(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "pids")
	s := startServer(t, script(t, fmt.Sprintf(`echo $$ > %s; echo bye; exec >&- ; trap '' INT; while :; do sleep 0.05; done`, pidfile)))
	c := dial(t, s.URL("/"))
	msgs, code, reason := readUntilClose(t, c)
	if strings.Join(msgs, "|") != "bye" {
		t.Fatalf("got %q", msgs)
	}
	// SIGINT is ignored, so SIGTERM ends it.
	if code != websocket.StatusInternalError || reason != "killed by signal TERM" {
		t.Fatalf("close %d %q, want 1011 killed by signal TERM", code, reason)
	}
	waitGone(t, pidsOf(t, pidfile), 5*time.Second)
}

func TestLeaderExitEndsBackgroundJobs(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "pids")
	// The background job keeps stdout open; the session still ends, and the
	// job with it.
	s := startServer(t, script(t, fmt.Sprintf(`sh -c 'echo $$ > %s; exec sleep 100' & sleep 0.1; echo done`, pidfile)))
	c := dial(t, s.URL("/"))
	msgs, code, _ := readUntilClose(t, c)
	if strings.Join(msgs, "|") != "done" || code != websocket.StatusNormalClosure {
		t.Fatalf("got %q, close %d", msgs, code)
	}
	waitGone(t, pidsOf(t, pidfile), 5*time.Second)
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	s := startServerEnv(t, []string{"WSBRIDGE_TEST_SECRET=leak", "KEEP_ME=yes"}, "--passenv=PATH,KEEP_ME", "env")
	hdr := http.Header{}
	hdr.Set("Proxy", "http://evil.example:3128")
	hdr.Add("X-Multi", "one")
	hdr.Add("X-Multi", "two")
	hdr.Set("User-Agent", "tester")
	hdr.Set("X-Forwarded-For", "1.1.1.1")
	hdr["X_Forwarded_For"] = []string{"6.6.6.6"} // would shadow the real one
	c := dialOpts(t, s.URL("/some/path?a=1&b=2"), &websocket.DialOptions{HTTPHeader: hdr})
	env := readEnv(t, c)
	port := strings.TrimPrefix(s.addr, "127.0.0.1:")
	want := map[string]string{
		"GATEWAY_INTERFACE":    "CGI/1.1",
		"SERVER_PROTOCOL":      "HTTP/1.1",
		"SERVER_NAME":          "127.0.0.1",
		"SERVER_PORT":          port,
		"REQUEST_METHOD":       "GET",
		"REQUEST_URI":          "/some/path?a=1&b=2",
		"SCRIPT_NAME":          "/",
		"PATH_INFO":            "/some/path",
		"QUERY_STRING":         "a=1&b=2",
		"REMOTE_ADDR":          "127.0.0.1",
		"REMOTE_HOST":          "127.0.0.1",
		"HTTP_HOST":            s.addr,
		"HTTP_X_MULTI":         "one, two",
		"HTTP_USER_AGENT":      "tester",
		"HTTP_X_FORWARDED_FOR": "1.1.1.1",
		"KEEP_ME":              "yes",
		"AUTH_TYPE":            "",
		"REMOTE_USER":          "",
	}
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s=%q (set: %v), want %q", k, got, ok, v)
		}
	}
	for _, k := range []string{"HTTP_PROXY", "WSBRIDGE_TEST_SECRET", "HOME", "HTTPS"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s=%q must not be set", k, v)
		}
	}
	for _, k := range []string{"SERVER_SOFTWARE", "UNIQUE_ID", "REMOTE_PORT", "PATH", "HTTP_SEC_WEBSOCKET_KEY"} {
		if env[k] == "" {
			t.Errorf("%s missing", k)
		}
	}
	if !strings.HasPrefix(env["SERVER_SOFTWARE"], "wsbridge/") {
		t.Errorf("SERVER_SOFTWARE=%q", env["SERVER_SOFTWARE"])
	}
}

func TestWorkingDirectoryIsDaemons(t *testing.T) {
	t.Parallel()
	s := startServer(t, "pwd")
	c := dial(t, s.URL("/"))
	msgs, _, _ := readUntilClose(t, c)
	wd, _ := os.Getwd()
	if len(msgs) != 1 || msgs[0] != wd {
		t.Fatalf("pwd %q, want %q", msgs, wd)
	}
}

func TestMaxForks(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--maxforks=1", "cat")
	first := dial(t, s.URL("/"))
	writeText(t, first, "x")
	readText(t, first)

	if got := dialStatus(t, s.URL("/"), nil); got != http.StatusTooManyRequests {
		t.Fatalf("second session: HTTP %d, want 429", got)
	}
	first.Close(websocket.StatusNormalClosure, "")
	// The slot frees once the child is reaped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := tryDial(t, s.URL("/"), nil)
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPlainGETGets426(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	resp, err := http.Get(s.HTTPURL("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", resp.StatusCode)
	}
}

func TestPingTimeoutEndsSession(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "pids")
	s := startServer(t, "--pingms=100", script(t, fmt.Sprintf(`echo $$ > %s; exec sleep 100`, pidfile)))
	// A client that completes the handshake and then never reads: it
	// cannot answer pings.
	conn := rawHandshake(t, s.addr, "/")
	defer conn.Close()
	pids := waitPids(t, pidfile, 1)
	s.waitLog(t, 10*time.Second, "ping timeout")
	waitGone(t, pids, 5*time.Second)
}

func TestPingsKeepLiveClient(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--pingms=50", "cat")
	c := dial(t, s.URL("/"))
	// A reading client answers pings; the session outlives many intervals.
	go func() {
		time.Sleep(600 * time.Millisecond)
		c.Write(context.Background(), websocket.MessageText, []byte("still here"))
	}()
	if got := readText(t, c); got != "still here" {
		t.Fatalf("got %q", got)
	}
	if strings.Contains(s.Stderr(), "ping timeout") {
		t.Fatal("a live client timed out")
	}
}

func TestSlowClientBackpressure(t *testing.T) {
	t.Parallel()
	s := startServer(t, "yes")
	conn := rawHandshake(t, s.addr, "/")
	defer conn.Close()
	pid := waitSessionPid(t, s)
	// The client reads nothing: once the socket buffers fill, yes must block
	// writing, and the daemon must not buffer its output.
	time.Sleep(time.Second)
	before := rss(t, s.cmd.Process.Pid)
	state1 := procState(pid)
	time.Sleep(time.Second)
	after := rss(t, s.cmd.Process.Pid)
	if after-before > 4<<20 {
		t.Fatalf("daemon RSS grew %d kB while the client did not read", (after-before)>>10)
	}
	if state1 != "S" && state1 != "D" {
		t.Fatalf("yes is in state %q, want blocked (S)", state1)
	}
}

func waitSessionPid(t *testing.T, s *server) int {
	t.Helper()
	line := s.waitLog(t, 5*time.Second, "connect", "pid=")
	i := strings.Index(line, "pid=")
	f := strings.Fields(line[i+4:])
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatalf("no pid in %q", line)
	}
	return pid
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--logformat=json", script(t, `read x; echo "got $x"; exit 2`))
	c := dial(t, s.URL("/p"))
	writeText(t, c, "hello")
	readUntilClose(t, c)
	line := s.waitLog(t, 5*time.Second, `"msg":"disconnect"`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("not JSON: %s", line)
	}
	for k, want := range map[string]any{
		"level": "ACCESS", "path": "/p", "exit": "exit status 2",
		"bytes_in": 5.0, "bytes_out": 9.0, "msgs_in": 1.0, "msgs_out": 1.0,
	} {
		if rec[k] != want {
			t.Errorf("%s=%v, want %v", k, rec[k], want)
		}
	}
	for _, k := range []string{"time", "session", "remote", "pid", "duration_ms"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("%s missing from %s", k, line)
		}
	}
	s.waitLog(t, time.Second, `"msg":"connect"`, `"path":"/p"`)
}

func TestShutdownClosesSessions1001(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "pids")
	s := startServer(t, stubbornScript(t, pidfile))
	c := dial(t, s.URL("/"))
	readText(t, c)
	pids := waitPids(t, pidfile, 2)
	s.signal(t, syscall.SIGTERM)
	_, code, _ := readUntilClose(t, c)
	if code != websocket.StatusGoingAway {
		t.Fatalf("close %d, want 1001", code)
	}
	if code := s.exitCode(t, testTimeout); code != 0 {
		t.Fatalf("daemon exit status %d", code)
	}
	waitGone(t, pids, time.Second)
}

// A child that never reads its stdin must make the client's sends block,
// not make the daemon buffer them.
func TestChildNotReadingBlocksClient(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sleep", "100")
	c := dial(t, s.URL("/"))
	waitSessionPid(t, s)
	before := rss(t, s.cmd.Process.Pid)

	msg := []byte(strings.Repeat("m", 64<<10))
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < 1000; n++ { // 64 MB if nothing pushed back
			if err := c.Write(context.Background(), websocket.MessageText, msg); err != nil {
				break
			}
		}
		sent <- n
	}()
	select {
	case n := <-sent:
		t.Fatalf("all %d messages (%d MB) were accepted by a child that reads nothing", n, n*len(msg)>>20)
	case <-time.After(2 * time.Second):
	}
	if grew := rss(t, s.cmd.Process.Pid) - before; grew > 8<<20 {
		t.Fatalf("daemon RSS grew %d kB holding input the child does not read", grew>>10)
	}
	c.CloseNow()
	<-sent
}

func TestReverseLookup(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--reverselookup", "--passenv=", "env")
	c := dial(t, s.URL("/"))
	msgs, _, _ := readUntilClose(t, c)
	var host string
	for _, m := range msgs {
		if v, ok := strings.CutPrefix(m, "REMOTE_HOST="); ok {
			host = v
		}
	}
	// 127.0.0.1 has a name in /etc/hosts on any Debian machine.
	if host == "" || host == "127.0.0.1" {
		t.Fatalf("REMOTE_HOST=%q, want the loopback address's name", host)
	}
}

// RFC 6455 conformance through the real binary, with a raw-socket client:
// a WebSocket library would refuse to send the bad frames, or hide what the
// server answers and when it drops TCP.

// Frame opcodes and header bits a raw client sends.
const (
	finBit   = 0x80
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
)

// serverFrame is one frame the server sent.
type serverFrame struct {
	opcode  byte
	payload []byte
}

// closeCode is the code of a close frame, 1005 if it has none.
func (f serverFrame) closeCode() int {
	if len(f.payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// rawResult is what a raw client saw: the server's frames up to its close
// frame, and how long after that close frame the server dropped TCP (-1 if
// it had not within the deadline).
type rawResult struct {
	frames   []serverFrame
	closed   *serverFrame
	dropWait time.Duration
}

// readServer reads the server's frames until its close frame, then waits
// for EOF, all within deadline.
func readServer(t testing.TB, conn net.Conn, deadline time.Duration) rawResult {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(deadline))
	br := bufio.NewReader(conn)
	var res rawResult
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("reading a frame header: %v (frames so far: %d)", err, len(res.frames))
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			io.ReadFull(br, ext[:])
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			io.ReadFull(br, ext[:])
			n = binary.BigEndian.Uint64(ext[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatalf("reading a frame payload: %v", err)
		}
		f := serverFrame{opcode: h[0] & 0x0f, payload: payload}
		if f.opcode != opClose {
			res.frames = append(res.frames, f)
			continue
		}
		res.closed = &f
		break
	}
	start := time.Now()
	res.dropWait = -1
	for {
		_, err := br.ReadByte()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			res.dropWait = time.Since(start)
			return res
		}
		if err != nil {
			return res // the deadline: still open
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestProtocolBadCloseFrames: a close frame a peer may not send fails the
// connection with 1002 (1007 for a reason that is not UTF-8), and TCP goes
// at once rather than after coder/websocket's 5 s wait for a handshake.
func TestProtocolBadCloseFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	tests := []struct {
		name    string
		payload []byte
		code    int
	}{
		{"reason not UTF-8", gatetest.CloseBody(1000, "\xed\xa0\x80"), 1007},
		{"reason cut mid-character", gatetest.CloseBody(1000, "ok\xe2\x82"), 1007},
		{"1-byte payload", []byte{0x03}, 1002},
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1100, 2000, 2999, 5000} {
		tests = append(tests, struct {
			name    string
			payload []byte
			code    int
		}{fmt.Sprintf("code %d", code), gatetest.CloseBody(code, ""), 1002})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := rawHandshake(t, s.addr, "/")
			defer conn.Close()
			conn.Write(gatetest.ClientFrame(finBit|opClose, tt.payload, -1))
			res := readServer(t, conn, 4*time.Second)
			if got := res.closed.closeCode(); got != tt.code {
				t.Fatalf("close %d %q, want %d", got, res.closed.payload, tt.code)
			}
			if res.dropWait < 0 || res.dropWait > time.Second {
				t.Fatalf("TCP dropped %v after the close frame, want within 1s", res.dropWait)
			}
		})
	}
	// A valid close is answered with the same code, as before.
	conn := rawHandshake(t, s.addr, "/")
	defer conn.Close()
	conn.Write(gatetest.ClientFrame(finBit|opClose, gatetest.CloseBody(1000, "bye ✓"), -1))
	if got := readServer(t, conn, 4*time.Second).closed.closeCode(); got != 1000 {
		t.Fatalf("valid close answered with %d", got)
	}
}

// TestProtocolInvalidTextFailsFast: a large text frame whose first bytes are
// not UTF-8 is failed with 1007 as soon as they arrive, not once the whole
// frame has.
func TestProtocolInvalidTextFailsFast(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	conn := rawHandshake(t, s.addr, "/")
	defer conn.Close()
	start := append([]byte("\xc3\x28"), make([]byte, 4096)...)
	// 1 MiB announced, 4 KiB sent: the rest never comes.
	conn.Write(gatetest.ClientFrame(finBit|opText, start, 1<<20)[:4096])
	res := readServer(t, conn, 3*time.Second)
	if got := res.closed.closeCode(); got != 1007 {
		t.Fatalf("close %d, want 1007", got)
	}
}

// TestProtocolAnswerBeforeProtocolError: the program's answer to a message
// that came before a protocol error reaches the client before the close.
func TestProtocolAnswerBeforeProtocolError(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	tests := []struct {
		name string
		bad  []byte
	}{
		{"reserved bits", gatetest.ClientFrame(finBit|0x40|opText, []byte("x"), -1)},
		{"unknown opcode", gatetest.ClientFrame(finBit|0x3, nil, -1)},
		{"fragmented ping", gatetest.ClientFrame(opPing, nil, -1)},
		{"continuation without start", gatetest.ClientFrame(finBit|opCont, []byte("x"), -1)},
		{"text inside a fragmented message", append(gatetest.ClientFrame(opText, []byte("a"), -1), gatetest.ClientFrame(finBit|opText, []byte("b"), -1)...)},
		{"ping over 125 bytes", gatetest.ClientFrame(finBit|opPing, make([]byte, 126), -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn := rawHandshake(t, s.addr, "/")
			defer conn.Close()
			// One write: the valid message and the bad frame arrive together.
			conn.Write(append(gatetest.ClientFrame(finBit|opText, []byte("hello"), -1), tt.bad...))
			res := readServer(t, conn, 4*time.Second)
			if len(res.frames) != 1 || string(res.frames[0].payload) != "hello" {
				t.Fatalf("frames before the close: %q, want the echo of hello", res.frames)
			}
			if got := res.closed.closeCode(); got != 1002 {
				t.Fatalf("close %d, want 1002", got)
			}
			if res.dropWait < 0 || res.dropWait > time.Second {
				t.Fatalf("TCP dropped %v after the close frame, want within 1s", res.dropWait)
			}
		})
	}
}

// TestProtocolBinaryModeChecksText: with --binary, a text frame must still
// be UTF-8 (RFC 6455 §8.1); binary frames are passed on unchecked.
func TestProtocolBinaryModeChecksText(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--binary", "cat")
	conn := rawHandshake(t, s.addr, "/")
	defer conn.Close()
	conn.Write(gatetest.ClientFrame(finBit|opBinary, []byte("\xff\xfe"), -1))
	conn.Write(gatetest.ClientFrame(finBit|opText, []byte("\xff\xfe"), -1))
	res := readServer(t, conn, 4*time.Second)
	if len(res.frames) != 1 || string(res.frames[0].payload) != "\xff\xfe" || res.frames[0].opcode != opBinary {
		t.Fatalf("frames before the close: %q, want the binary echo", res.frames)
	}
	if got := res.closed.closeCode(); got != 1007 {
		t.Fatalf("close %d, want 1007", got)
	}
}
