package main_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/redis/go-redis/v9"

	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster/redistest"
)

// End-to-end tests of --broadcast (issue 11): one program shared by the
// clients of a request path.

// pidOf parses "pid N" messages.
func pidOf(t testing.TB, msg string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimPrefix(msg, "pid "))
	if err != nil || !strings.HasPrefix(msg, "pid ") {
		t.Fatalf("got %q, want pid N", msg)
	}
	return pid
}

// awaitGone waits for pid's process group to end.
func awaitGone(t testing.TB, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !groupGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still running after %s", pid, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBroadcastGroupsAreIsolated(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "sh", "-c", `echo "pid $$"; echo "$PATH_INFO"; exec cat`)
	a1 := dial(t, s.URL("/room/a"))
	pidA := pidOf(t, readText(t, a1))
	if got := readText(t, a1); got != "/room/a" {
		t.Fatalf("PATH_INFO %q, want /room/a", got)
	}
	a2 := dial(t, s.URL("/room/a?x=1")) // the query does not make a group
	b1 := dial(t, s.URL("/room/b"))
	pidB := pidOf(t, readText(t, b1))
	if got := readText(t, b1); got != "/room/b" {
		t.Fatalf("PATH_INFO %q, want /room/b", got)
	}
	if pidA == pidB {
		t.Fatalf("two groups share pid %d", pidA)
	}
	writeText(t, a2, "to a")
	for _, c := range []*websocket.Conn{a1, a2} {
		if got := readText(t, c); got != "to a" {
			t.Fatalf("room a client got %q, want \"to a\"", got)
		}
	}
	writeText(t, b1, "to b")
	if got := readText(t, b1); got != "to b" {
		t.Fatalf("room b client got %q, want \"to b\" (and nothing of room a)", got)
	}
	writeText(t, a1, "again a")
	if got := readText(t, a2); got != "again a" {
		t.Fatalf("room a client got %q, want \"again a\" (and nothing of room b)", got)
	}
}

// Five clients each send 200 lines of 1 KiB at once through one cat: every
// client gets all 1,000 lines, each whole, and each sender's in its order.
func TestBroadcastFanInWholeMessages(t *testing.T) {
	t.Parallel()
	const clients, lines, size = 5, 200, 1024
	s := startServer(t, "--broadcast", "cat")
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, s.URL("/chat"))
	}
	// A client's messages are read only once it is attached: when each has
	// seen its own, in turn, all are attached, and all see the last.
	for i, c := range conns {
		sync := fmt.Sprint("sync ", i)
		writeText(t, c, sync)
		for readText(t, c) != sync {
		}
	}
	for _, c := range conns[:clients-1] {
		for readText(t, c) != fmt.Sprint("sync ", clients-1) {
		}
	}
	line := func(client, n int) string {
		head := fmt.Sprintf("c%d n%04d ", client, n)
		return head + strings.Repeat(string(rune('a'+client)), size-len(head))
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range lines {
				if err := c.Write(context.Background(), websocket.MessageText, []byte(line(i, n))); err != nil {
					t.Errorf("client %d write: %v", i, err)
					return
				}
			}
		}()
	}
	for ci, c := range conns {
		next := make([]int, clients)
		for range clients * lines {
			msg := readText(t, c)
			var from, n int
			if _, err := fmt.Sscanf(msg, "c%d n%d ", &from, &n); err != nil || from < 0 || from >= clients {
				t.Fatalf("client %d got a mangled line %.40q", ci, msg)
			}
			if msg != line(from, n) {
				t.Fatalf("client %d got line %d of client %d interleaved or cut: %.60q...", ci, n, from, msg)
			}
			if n != next[from] {
				t.Fatalf("client %d got line %d of client %d, want %d", ci, n, from, next[from])
			}
			next[from]++
		}
	}
	wg.Wait()
}

// A client that never reads while the program floods is closed with 1013
// "too slow"; a client that reads gets every line, and the program never
// waits. The program writes in bursts of 500 KB, 5 MB/s, which a reading
// client keeps up with even under the race detector.
func TestBroadcastSlowClientIsClosed(t *testing.T) {
	t.Parallel()
	const lines = 20000 // of 1000 bytes: 20 MB, beyond any socket buffers
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, "--broadcast", "--metrics-address="+metricsAddr, "sh", "-c",
		`read go; awk 'BEGIN { s = sprintf("%993s", ""); for (i = 1; i <= `+strconv.Itoa(lines)+`; i++) { printf "%06d %s\n", i, s; if (i % 500 == 0) { fflush(); system("sleep 0.1") } } }'`)
	slow := dial(t, s.URL("/feed"))
	fast := dial(t, s.URL("/feed"))
	// The slow client reads again once it is found out, well within the
	// few seconds its close frame is given.
	slowClosed := make(chan string, 1)
	go func() {
		if !s.await(testTimeout, func(out string) bool { return strings.Contains(out, "client too slow") }) {
			slowClosed <- "not found out"
			return
		}
		_, code, reason := readUntilClose(t, slow)
		slowClosed <- fmt.Sprint(int(code), " ", reason)
	}()
	writeText(t, fast, "go")
	for i := 1; i <= lines; i++ {
		msg := readText(t, fast)
		if want := fmt.Sprintf("%06d ", i); !strings.HasPrefix(msg, want) || len(msg) != 1000 {
			t.Fatalf("reading client: message %d is %.20q (%d bytes)", i, msg, len(msg))
		}
	}
	if _, code, _ := readUntilClose(t, fast); code != websocket.StatusNormalClosure {
		t.Fatalf("reading client closed with %d, want 1000", code)
	}
	// What was in flight, then the 1013.
	if got := <-slowClosed; got != "1013 too slow" {
		t.Fatalf("slow client: %s, want 1013 \"too slow\"", got)
	}
	body := scrapeMetrics(t, metricsAddr)
	if got := metricValue(body, "wsbridge_broadcast_slow_closes_total"); got != "1" {
		t.Errorf("wsbridge_broadcast_slow_closes_total %q, want 1", got)
	}
}

func scrapeMetrics(t testing.TB, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// --replay=N: a late joiner gets the last N messages, then the live ones,
// with no gap and no repeat, also while the program writes without pause.
func TestBroadcastReplay(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--replay=3", "sh", "-c", `seq 1 10; exec cat`)
	first := dial(t, s.URL("/"))
	for i := 1; i <= 10; i++ {
		if got := readText(t, first); got != strconv.Itoa(i) {
			t.Fatalf("first client got %q, want %d", got, i)
		}
	}
	late := dial(t, s.URL("/"))
	var got []string
	for range 3 {
		got = append(got, readText(t, late))
	}
	// Attached now (the upgrade's answer comes before the attach): a live
	// message follows the replay.
	writeText(t, first, "live")
	got = append(got, readText(t, late))
	if strings.Join(got, ",") != "8,9,10,live" {
		t.Fatalf("late joiner got %v, want [8 9 10 live]", got)
	}

	// Without pause, but at a pace a client keeps up with under the race
	// detector: bursts of 100 lines, 100 a second.
	flood := startServer(t, "--broadcast", "--replay=50", "sh", "-c", `i=0; while :; do i=$((i+1)); echo $i; [ $((i % 100)) = 0 ] && sleep 0.01; done`)
	a := dial(t, flood.URL("/"))
	go func() { // keeps the program running, reading all the while
		for {
			if _, _, err := a.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	for range 5 {
		b := dial(t, flood.URL("/"))
		prev := 0
		for range 500 {
			n, err := strconv.Atoi(readText(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if prev != 0 && n != prev+1 {
				t.Fatalf("late joiner got %d after %d: a gap or a repeat", n, prev)
			}
			prev = n
		}
		b.Close(websocket.StatusNormalClosure, "")
	}
}

// The program's exit status reaches every client of the group.
func TestBroadcastExitCodeReachesAllClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "sh", "-c", `read x; exit 5`)
	a := dial(t, s.URL("/x"))
	b := dial(t, s.URL("/x"))
	writeText(t, b, "bye") // read once b is attached
	for _, c := range []*websocket.Conn{a, b} {
		if _, code, _ := readUntilClose(t, c); code != 4005 {
			t.Fatalf("close %d, want 4005", code)
		}
	}
}

// --restart=on-failure starts the program again; its clients stay.
func TestBroadcastRestartKeepsClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--restart=on-failure", "sh", "-c", `echo "pid $$"; read x; echo "got $x"; exit 3`)
	c := dial(t, s.URL("/"))
	pid1 := pidOf(t, readText(t, c))
	writeText(t, c, "one")
	if got := readText(t, c); got != "got one" {
		t.Fatalf("got %q", got)
	}
	pid2 := pidOf(t, readText(t, c)) // after 100ms, on the same connection
	if pid2 == pid1 {
		t.Fatalf("same pid %d after a restart", pid1)
	}
	writeText(t, c, "two")
	if got := readText(t, c); got != "got two" {
		t.Fatalf("got %q", got)
	}
	s.waitLog(t, testTimeout, "group restart")

	// A clean exit is not a failure: the clients get 1000.
	never := startServer(t, "--broadcast", "--restart=on-failure", "sh", "-c", `read x; exit 0`)
	d := dial(t, never.URL("/"))
	writeText(t, d, "x")
	if _, code, _ := readUntilClose(t, d); code != websocket.StatusNormalClosure {
		t.Fatalf("close %d, want 1000", code)
	}
}

// No process is left once the last client has gone; with --linger a client
// coming back in time finds the same program.
func TestBroadcastProgramStopsWithLastClient(t *testing.T) {
	t.Parallel()
	// --replay=1: a client is attached once it has the pid.
	s := startServer(t, "--broadcast", "--replay=1", "sh", "-c", `echo "pid $$"; exec sleep 600`)
	a := dial(t, s.URL("/"))
	pid := pidOf(t, readText(t, a))
	b := dial(t, s.URL("/"))
	if got := pidOf(t, readText(t, b)); got != pid {
		t.Fatalf("second client got pid %d, want %d", got, pid)
	}
	a.Close(websocket.StatusNormalClosure, "")
	time.Sleep(200 * time.Millisecond)
	if groupGone(pid) {
		t.Fatal("the program stopped while a client was still connected")
	}
	b.Close(websocket.StatusNormalClosure, "")
	awaitGone(t, pid, 10*time.Second)

	l := startServer(t, "--broadcast", "--replay=1", "--linger=2s", "sh", "-c", `echo "pid $$"; exec sleep 600`)
	c := dial(t, l.URL("/"))
	pid = pidOf(t, readText(t, c))
	c.Close(websocket.StatusNormalClosure, "")
	time.Sleep(300 * time.Millisecond)
	d := dial(t, l.URL("/"))
	if got := pidOf(t, readText(t, d)); got != pid {
		t.Fatalf("a client back within --linger got pid %d, want %d", got, pid)
	}
	time.Sleep(2500 * time.Millisecond)
	if groupGone(pid) {
		t.Fatal("a client that came back within --linger did not keep the program")
	}
	d.Close(websocket.StatusNormalClosure, "")
	awaitGone(t, pid, 10*time.Second)
}

// The program gets the server-level CGI variables, not one client's.
func TestBroadcastEnvironmentIsServerLevel(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--passenv=PATH", "sh", "-c", `env; echo END; exec cat`)
	c := dialOpts(t, s.URL("/room/1?secret=1"), &websocket.DialOptions{HTTPHeader: http.Header{"X-Token": {"abc"}}})
	var lines []string
	for {
		l := readText(t, c)
		if l == "END" {
			break
		}
		lines = append(lines, l)
	}
	env := parseEnv(lines)
	for _, k := range []string{"SERVER_SOFTWARE", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "GATEWAY_INTERFACE", "SCRIPT_NAME", "PATH_INFO", "PATH"} {
		if _, ok := env[k]; !ok {
			t.Errorf("%s missing from the program's environment", k)
		}
	}
	if env["PATH_INFO"] != "/room/1" {
		t.Errorf("PATH_INFO=%q, want /room/1", env["PATH_INFO"])
	}
	for k := range env {
		if strings.HasPrefix(k, "REMOTE_") || strings.HasPrefix(k, "HTTP_") || k == "QUERY_STRING" || k == "UNIQUE_ID" {
			t.Errorf("per-client variable %s=%q in the shared program's environment", k, env[k])
		}
	}
}

// --max-clients counts clients over all groups (503 before the upgrade);
// a group's program holds one --maxforks slot however many clients it has.
func TestBroadcastLimits(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--max-clients=3", "--maxforks=1", "cat")
	a := dial(t, s.URL("/a"))
	dial(t, s.URL("/a"))
	dial(t, s.URL("/a"))
	writeText(t, a, "x")
	readText(t, a) // all three attached
	if code := dialStatus(t, s.URL("/a"), nil); code != http.StatusServiceUnavailable {
		t.Fatalf("fourth client: %d, want 503", code)
	}
	s2 := startServer(t, "--broadcast", "--maxforks=1", "cat")
	dial(t, s2.URL("/a"))
	dial(t, s2.URL("/a"))
	if code := dialStatus(t, s2.URL("/b"), nil); code != http.StatusTooManyRequests {
		t.Fatalf("a second group with --maxforks=1: %d, want 429", code)
	}
}

func TestBroadcastBinary(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--binary", "cat")
	a := dial(t, s.URL("/"))
	b := dial(t, s.URL("/"))
	msg := []byte{0, 1, 2, 0xff, '\n', 3}
	// Sent by b, read once b is attached; a started the group.
	if err := b.Write(context.Background(), websocket.MessageBinary, msg); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{a, b} {
		typ, got := readMsg(t, c)
		if typ != websocket.MessageBinary || string(got) != string(msg) {
			t.Fatalf("got %v %x, want binary %x", typ, got, msg)
		}
	}
}

// SIGTERM: every client gets 1001 and the programs end.
func TestBroadcastShutdown(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "sh", "-c", `echo "pid $$"; exec cat`)
	a := dial(t, s.URL("/a"))
	pid := pidOf(t, readText(t, a))
	b := dial(t, s.URL("/b"))
	readText(t, b)
	s.signal(t, syscall.SIGTERM)
	for _, c := range []*websocket.Conn{a, b} {
		if _, code, _ := readUntilClose(t, c); code != websocket.StatusGoingAway {
			t.Fatalf("close %d, want 1001", code)
		}
	}
	if code := s.exitCode(t, testTimeout); code != 0 {
		t.Fatalf("exit %d", code)
	}
	awaitGone(t, pid, 5*time.Second)
}

func TestBroadcastFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--broadcast", "--terminal", "cat"}, "--broadcast cannot be combined with --terminal"},
		{[]string{"--broadcast", "--passstderr", "cat"}, "--broadcast cannot be combined with --passstderr"},
		{[]string{"--broadcast", "--url-arg", "cat"}, "--broadcast cannot be combined with --url-arg"},
		{[]string{"--broadcast", "--envelope", "--binary", "cat"}, "--envelope cannot be combined with --binary"},
		{[]string{"--replay=3", "cat"}, "--replay needs --broadcast"},
		{[]string{"--linger=1s", "cat"}, "--linger needs --broadcast"},
		{[]string{"--envelope", "cat"}, "--envelope needs --broadcast"},
		{[]string{"--restart=always", "cat"}, "--restart needs --broadcast"},
		{[]string{"--broadcast", "--restart=sometimes", "cat"}, "--restart"},
		{[]string{"--broadcast", "--client-queue=10", "cat"}, "--client-queue=10"},
		{[]string{"--broadcast", "--replay=-1", "cat"}, "--replay=-1"},
	} {
		code, out := runWsbridge(t, nil, append([]string{"--port=0"}, tc.args...)...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("wsbridge %q: exit %d, output %q; want an error naming %q", tc.args, code, out, tc.want)
		}
	}
}

// --envelope: client IDs, join and leave events, addressed output, closing
// one client, and a bad line logged and dropped.
func TestBroadcastEnvelope(t *testing.T) {
	t.Parallel()
	need(t, "python3", "the envelope test's program")
	prog := writeFile(t, t.TempDir()+"/env.py", `import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("event") == "join":
        out = {"data": "welcome %s %s %s %s" % (m["client"], m["path"], m["query"], m.get("user", "-")), "to": [m["client"]]}
    elif m.get("event") == "leave":
        out = {"data": "left %s %d" % (m["client"], m["code"])}
    elif m["data"] == "kick":
        out = {"close": m["client"], "code": 4001, "reason": "kicked"}
    elif m["data"] == "garbage":
        print("not json at all", flush=True)
        continue
    else:
        out = {"data": "%s: %s" % (m["client"], m["data"])}
    print(json.dumps(out), flush=True)
`, 0o644)
	s := startServer(t, "--broadcast", "--envelope", "--credential=alice:pw", "--passenv=PATH", "/usr/bin/python3", prog)
	auth := &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))}}}
	a := dialOpts(t, s.URL("/room?x=1"), auth)
	welcome := strings.Fields(readText(t, a))
	if len(welcome) != 5 || welcome[0] != "welcome" || welcome[2] != "/room" || welcome[3] != "x=1" || welcome[4] != "alice" {
		t.Fatalf("join answer %q, want welcome ID /room x=1 alice", welcome)
	}
	idA := welcome[1]
	b := dialOpts(t, s.URL("/room"), auth)
	idB := strings.Fields(readText(t, b))[1]
	if idA == idB {
		t.Fatalf("two clients with ID %s", idA)
	}
	writeText(t, a, "garbage")
	writeText(t, a, "hi \"there\"")
	for _, c := range []*websocket.Conn{a, b} {
		// a never saw b's welcome, addressed to b only.
		if got := readText(t, c); got != idA+`: hi "there"` {
			t.Fatalf("got %q, want %q", got, idA+`: hi "there"`)
		}
	}
	s.waitLog(t, testTimeout, "bad envelope", "not json at all")
	b.Close(websocket.StatusNormalClosure, "")
	if got := readText(t, a); got != "left "+idB+" 1000" {
		t.Fatalf("got %q, want the leave of %s", got, idB)
	}
	writeText(t, a, "kick")
	if _, code, reason := readUntilClose(t, a); code != 4001 || reason != "kicked" {
		t.Fatalf("close %d %q, want 4001 kicked", code, reason)
	}
}

// After a restart the program first gets a join for every client still
// connected.
func TestBroadcastEnvelopeRejoinAfterRestart(t *testing.T) {
	t.Parallel()
	need(t, "python3", "the envelope test's program")
	prog := writeFile(t, t.TempDir()+"/restart.py", `import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("event") == "join":
        print(json.dumps({"data": "joined " + m["client"]}), flush=True)
    elif m.get("data") == "crash":
        sys.exit(1)
`, 0o644)
	s := startServer(t, "--broadcast", "--envelope", "--restart=on-failure", "--passenv=PATH", "/usr/bin/python3", prog)
	a := dial(t, s.URL("/"))
	idA := strings.TrimPrefix(readText(t, a), "joined ")
	b := dial(t, s.URL("/"))
	idB := strings.TrimPrefix(readText(t, a), "joined ")
	readText(t, b)
	writeText(t, a, "crash")
	got := map[string]bool{}
	for range 2 {
		got[strings.TrimPrefix(readText(t, b), "joined ")] = true
	}
	if !got[idA] || !got[idB] {
		t.Fatalf("after the restart the program saw joins of %v, want %s and %s", got, idA, idB)
	}
}

// --dir: one group per script and PATH_INFO.
func TestBroadcastDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeScript(t, dir+"/room.sh", `echo "pid $$ $PATH_INFO"; exec cat`)
	s := startServer(t, "--broadcast", "--dir="+dir)
	a := dial(t, s.URL("/room.sh/1"))
	first := readText(t, a)
	b := dial(t, s.URL("/room.sh/2"))
	second := readText(t, b)
	if !strings.HasSuffix(first, " /1") || !strings.HasSuffix(second, " /2") || first == second {
		t.Fatalf("groups of /room.sh/1 and /room.sh/2: %q and %q, want two programs", first, second)
	}
	c := dial(t, s.URL("/room.sh/1"))
	writeText(t, c, "same")
	if got := readText(t, a); got != "same" {
		t.Fatalf("got %q, want the message of a client of the same group", got)
	}
}

// examples/chat through a Go client: message to all, receipt to the sender.
func TestExampleBroadcastChat(t *testing.T) {
	t.Parallel()
	need(t, "python3", "examples/chat/chat.py")
	s := startServer(t, "--broadcast", "--envelope", "--staticdir=examples/chat", "examples/chat/chat.py")
	type msg struct {
		Type, You, From, Text string
		ID                    string
		Online, ReadBy        int
	}
	next := func(c *websocket.Conn, typ string) msg {
		t.Helper()
		for {
			var m msg
			if err := json.Unmarshal([]byte(readText(t, c)), &m); err != nil {
				t.Fatal(err)
			}
			if m.Type == typ {
				return m
			}
		}
	}
	a := dial(t, s.URL("/chat/lobby"))
	me := next(a, "hello").You
	b := dial(t, s.URL("/chat/lobby"))
	if m := next(a, "presence"); m.Online != 1 {
		t.Fatalf("presence %d", m.Online)
	}
	if m := next(a, "presence"); m.Online != 2 {
		t.Fatalf("presence %d after the second join", m.Online)
	}
	writeText(t, a, `{"type":"say","text":"hi"}`)
	got := next(b, "msg")
	if got.From != me || got.Text != "hi" {
		t.Fatalf("b got %+v", got)
	}
	writeText(t, b, fmt.Sprintf(`{"type":"read","id":%q}`, got.ID))
	if r := next(a, "receipt"); r.ID != got.ID || r.ReadBy != 1 {
		t.Fatalf("receipt %+v, want id %s read by 1", r, got.ID)
	}
	res, body := httpRequest(t, http.DefaultClient, "GET", s.HTTPURL("/"), nil)
	if res.StatusCode != 200 || !strings.Contains(body, "/chat/") {
		t.Fatalf("the page: %d %.80q", res.StatusCode, body)
	}
}

// TestExampleBroadcastChatBrowser drives examples/chat in headless Chromium through
// static/tests/chat.browser.mjs: two pages, a message from one shown on the
// other, and the read receipt back at the sender.
func TestExampleBroadcastChatBrowser(t *testing.T) {
	t.Parallel()
	node := browserTestTools(t)
	need(t, "python3", "examples/chat/chat.py")
	s := startServer(t, "--broadcast", "--envelope", "--staticdir=examples/chat", "examples/chat/chat.py")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("static", "tests", "chat.browser.mjs"), s.HTTPURL("/"))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", out)
	if err != nil {
		t.Fatalf("browser test: %v\nserver log:\n%s", err, s.Stderr())
	}
	if !strings.Contains(string(out), "ok chat done") {
		t.Fatal("browser test did not get to the end")
	}
}

// The wsbridge_broadcast_* metrics.
func TestBroadcastMetrics(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, "--broadcast", "--restart=on-failure", "--metrics-address="+metricsAddr, "sh", "-c", `read x; echo "got $x"; exit 1`)
	a := dial(t, s.URL("/m"))
	b := dial(t, s.URL("/m"))
	writeText(t, b, "one") // read once b is attached
	for _, c := range []*websocket.Conn{a, b} {
		if got := readText(t, c); got != "got one" {
			t.Fatalf("got %q", got)
		}
	}
	s.waitLog(t, testTimeout, "group restart")
	body := scrapeMetrics(t, metricsAddr)
	for name, want := range map[string]string{
		"wsbridge_broadcast_groups":                                "1",
		"wsbridge_broadcast_clients":                               "2",
		"wsbridge_broadcast_restarts_total":                        "1",
		"wsbridge_broadcast_slow_closes_total":                     "0",
		`wsbridge_broadcast_messages_total{direction="in"}`:        "1",
		`wsbridge_broadcast_messages_total{direction="out"}`:       "1",
		`wsbridge_broadcast_messages_total{direction="delivered"}`: "2",
	} {
		if got := metricValue(body, name); got != want {
			t.Errorf("%s = %q, want %s", name, got, want)
		}
	}
}

// A client that breaks the rules is closed alone; the program and the
// other clients go on.
func TestBroadcastClientErrorClosesOnlyThatClient(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--broadcast", "--maxframesize=10", "cat")
	a := dial(t, s.URL("/"))
	for _, tc := range []struct {
		send func(c *websocket.Conn) error
		code websocket.StatusCode
	}{
		{func(c *websocket.Conn) error {
			return c.Write(context.Background(), websocket.MessageBinary, []byte("b"))
		}, websocket.StatusUnsupportedData},
		{func(c *websocket.Conn) error {
			return c.Write(context.Background(), websocket.MessageText, []byte("eleven byte"))
		}, websocket.StatusMessageTooBig},
	} {
		b := dial(t, s.URL("/"))
		if err := tc.send(b); err != nil {
			t.Fatal(err)
		}
		if _, code, _ := readUntilClose(t, b); code != tc.code {
			t.Fatalf("close %d, want %d", code, tc.code)
		}
		writeText(t, a, "still")
		if got := readText(t, a); got != "still" {
			t.Fatalf("the other client got %q", got)
		}
	}
}

// Broadcast across machines (--redis): several daemons on this machine,
// one redis-server of the test's own.

// startRedis runs a throwaway redis-server on a free loopback port.
func startRedis(t testing.TB) *redistest.Server {
	t.Helper()
	need(t, "redis-server", "the Redis tests") // counted for reportSkips
	return redistest.Start(t)
}

// waitInputRecorded waits until the owner of the group whose keys start
// with base has recorded its position at the end of the input stream (and
// so deleted what it wrote to its program).
func waitInputRecorded(t testing.TB, r *redistest.Server, base string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := rdb.XLen(ctx, base+"in").Result()
		pos, _ := rdb.HGet(ctx, base+"meta", "inpos").Result()
		if err == nil && n == 0 && pos != "" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the owner did not record its input position within 5s")
}

// startInstances runs n daemons of one cluster with the same args.
func startInstances(t testing.TB, r *redistest.Server, n int, args ...string) []*server {
	t.Helper()
	var ss []*server
	for range n {
		ss = append(ss, startServer(t, append([]string{"--broadcast", "--redis=" + r.URL(), "--lease=1s"}, args...)...))
	}
	return ss
}

// programsRunning counts processes whose command line holds marker.
func programsRunning(marker string) int {
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		// The daemons name the program too: only the program counts.
		if err == nil && strings.Contains(string(b), marker) && !strings.Contains(string(b), "--redis=") {
			n++
		}
	}
	return n
}

// Three instances: one program in the cluster; a message from a client of
// any instance reaches it, and its answers reach the clients of every
// instance, all in the same order.
func TestRedisThreeInstancesOneProgram(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog := script(t, `while IFS= read -r l; do echo "$l"; done`)
	ss := startInstances(t, r, 3, prog)
	var cs []*websocket.Conn
	for i, s := range ss {
		c := dial(t, s.URL("/room"))
		cs = append(cs, c)
		if i == 0 {
			expectEcho(t, c, "first") // the program runs
		}
	}
	time.Sleep(300 * time.Millisecond) // every instance reads the stream
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				writeText(t, c, fmt.Sprintf("%d-%d", i, j))
			}
		}()
	}
	wg.Wait()
	var seqs [][]string
	for _, c := range cs {
		var got []string
		for range 60 {
			got = append(got, readText(t, c))
		}
		seqs = append(seqs, got)
	}
	for i := 1; i < 3; i++ {
		if strings.Join(seqs[i], ",") != strings.Join(seqs[0], ",") {
			t.Fatalf("instance %d saw another order:\n%v\n%v", i, seqs[0], seqs[i])
		}
	}
	for i := range 3 { // each client's messages in its order
		next := 0
		for _, m := range seqs[0] {
			if strings.HasPrefix(m, strconv.Itoa(i)+"-") {
				if m != fmt.Sprintf("%d-%d", i, next) {
					t.Fatalf("client %d's messages out of order: %v", i, seqs[0])
				}
				next++
			}
		}
	}
	if n := programsRunning(prog); n != 1 {
		t.Fatalf("%d programs running in the cluster, want 1", n)
	}
}

// --envelope across instances: IDs name their instance, an answer
// addressed to a client on another instance reaches it, and a close of a
// client on another instance closes it.
func TestRedisEnvelopeAcrossInstances(t *testing.T) {
	t.Parallel()
	need(t, "python3", "the envelope program")
	r := startRedis(t)
	prog := writeFile(t, t.TempDir()+"/env.py", `import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("event") == "join":
        out = {"data": "welcome %s %s" % (m["client"], m.get("instance", "-")), "to": [m["client"]]}
    elif m.get("event") == "leave":
        out = {"data": "left %s %d" % (m["client"], m["code"])}
    elif m.get("event"):
        continue
    elif m["data"] == "kick":
        out = {"close": m["client"], "code": 4001, "reason": "kicked"}
    else:
        out = {"data": "%s: %s" % (m["client"], m["data"])}
    print(json.dumps(out), flush=True)
`, 0o644)
	ss := startInstances(t, r, 2, "--envelope", "--passenv=PATH", "/usr/bin/python3", prog)
	a := dial(t, ss[0].URL("/chat"))
	wa := strings.Fields(readText(t, a))
	b := dial(t, ss[1].URL("/chat"))
	wb := strings.Fields(readText(t, b))
	if len(wa) != 3 || len(wb) != 3 || wa[1] == wb[1] || wa[2] == wb[2] || !strings.HasPrefix(wa[1], wa[2]+"-") || !strings.HasPrefix(wb[1], wb[2]+"-") {
		t.Fatalf("welcomes %q and %q: want IDs unique in the cluster, prefixed with their instance", wa, wb)
	}
	writeText(t, b, "hello")
	for _, c := range []*websocket.Conn{a, b} {
		if got := readText(t, c); got != wb[1]+": hello" {
			t.Fatalf("got %q", got)
		}
	}
	writeText(t, b, "kick")
	if _, code, reason := readUntilClose(t, b); code != 4001 || reason != "kicked" {
		t.Fatalf("b closed with %d %q, want 4001 kicked", code, reason)
	}
	if got := readText(t, a); got != "left "+wb[1]+" 4001" {
		t.Fatalf("a got %q, want b's leave", got)
	}
}

// --replay on an instance that joins later: the same history.
func TestRedisReplayOnJoiningInstance(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	a := startInstances(t, r, 1, "--replay=3", "sh", "-c", `seq 1 10; exec cat`)[0]
	ca := dial(t, a.URL("/"))
	for i := 1; i <= 10; i++ {
		if got := readText(t, ca); got != strconv.Itoa(i) {
			t.Fatalf("got %q, want %d", got, i)
		}
	}
	b := startInstances(t, r, 1, "--replay=3", "sh", "-c", `seq 1 10; exec cat`)[0]
	cb := dial(t, b.URL("/"))
	time.Sleep(200 * time.Millisecond)
	writeText(t, cb, "live")
	var got []string
	for range 4 {
		got = append(got, readText(t, cb))
	}
	if strings.Join(got, ",") != "8,9,10,live" {
		t.Fatalf("joining instance's client got %v, want [8 9 10 live]", got)
	}
}

// kill -9 of the owner: another instance takes over within the lease and a
// renewal, its clients stay connected, and input sent meanwhile reaches
// the new program.
func TestRedisOwnerKilled(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	prog := script(t, `echo "pid $$"; exec cat`)
	ss := startInstances(t, r, 2, "--replay=1", prog)
	ca := dial(t, ss[0].URL("/"))
	pid := pidOf(t, readText(t, ca))
	cb := dial(t, ss[1].URL("/"))
	if got := readText(t, cb); got != fmt.Sprintf("pid %d", pid) {
		t.Fatalf("b's replay %q", got)
	}
	expectEcho(t, cb, "before")
	// Input is at least once: an owner killed between writing "before" to
	// its program and recording how far it got makes the next one write
	// it again. Kill it once the record is there.
	waitInputRecorded(t, r, "wsbridge:{/}:")
	ss[0].signal(t, syscall.SIGKILL)
	killed := time.Now()
	killGroup(pid) // its program goes with the machine
	writeText(t, cb, "during the gap")
	got := readText(t, cb)
	if !strings.HasPrefix(got, "pid ") || got == fmt.Sprintf("pid %d", pid) {
		t.Fatalf("got %q, want the new program's pid", got)
	}
	if d := time.Since(killed); d > time.Second+time.Second/3+time.Second {
		t.Fatalf("takeover after %v, want about the lease and a renewal", d)
	}
	if got := readText(t, cb); got != "during the gap" {
		t.Fatalf("got %q, want the input sent during the gap", got)
	}
	expectEcho(t, cb, "after")
}

// --restart under --redis: the owner's program exits on a client's
// command (from another instance) and starts again; the clients of both
// instances stay connected, the new program gets a join for every client
// of the cluster before their next messages, and its output reaches both
// instances in the same order.
func TestRedisRestartRejoinsCluster(t *testing.T) {
	t.Parallel()
	need(t, "python3", "the envelope program")
	r := startRedis(t)
	prog := writeFile(t, t.TempDir()+"/restart.py", `import json, os, sys
def send(s):
    print(json.dumps({"data": s}), flush=True)
send("start %d" % os.getpid())
joined = set()
for line in sys.stdin:
    m = json.loads(line)
    ev = m.get("event")
    if ev == "join":
        joined.add(m["client"])
        send("joined " + m["client"])
    elif ev == "leave":
        joined.discard(m["client"])
    elif ev:
        continue
    elif m["data"] == "exit":
        sys.exit(0)
    elif m["data"] == "count":
        for i in range(1, 101):
            send("n %d" % i)
    else:
        send("%s %s: %s" % ("known" if m["client"] in joined else "UNKNOWN", m["client"], m["data"]))
`, 0o644)
	ss := startInstances(t, r, 2, "--envelope", "--restart=always", "--passenv=PATH", "/usr/bin/python3", prog)
	a := dial(t, ss[0].URL("/room"))
	start1 := readText(t, a) // a's instance took the lease: its client sees the start
	if !strings.HasPrefix(start1, "start ") {
		t.Fatalf("a got %q, want the program's start", start1)
	}
	idA := strings.TrimPrefix(readText(t, a), "joined ")
	b := dial(t, ss[1].URL("/room"))
	idB := strings.TrimPrefix(readText(t, b), "joined ")
	if got := readText(t, a); got != "joined "+idB {
		t.Fatalf("a got %q, want b's join", got)
	}
	writeText(t, b, "hello")
	for _, c := range []*websocket.Conn{a, b} {
		if got := readText(t, c); got != "known "+idB+": hello" {
			t.Fatalf("got %q before the restart", got)
		}
	}

	writeText(t, b, "exit") // from the instance without the program
	var start2 string
	for i, c := range []*websocket.Conn{a, b} {
		got := readText(t, c)
		if !strings.HasPrefix(got, "start ") || got == start1 {
			t.Fatalf("client %d got %q, want the new program's start (the old one was %q)", i, got, start1)
		}
		if i > 0 && got != start2 {
			t.Fatalf("clients saw different starts: %q and %q", start2, got)
		}
		start2 = got
	}
	// Messages of both instances right away: the joins come first.
	writeText(t, a, "from a")
	writeText(t, b, "from b")
	var seqs [][]string
	for i, c := range []*websocket.Conn{a, b} {
		var seq []string
		for answers := 0; answers < 2 && len(seq) < 4; {
			got := readText(t, c)
			if !strings.HasPrefix(got, "joined ") {
				answers++
			}
			seq = append(seq, got)
		}
		seqs = append(seqs, seq)
		joins := map[string]bool{}
		for _, got := range seq[:2] {
			if !strings.HasPrefix(got, "joined ") || len(seq) != 4 {
				t.Fatalf("client %d got %q after the restart, want the joins of %s and %s first", i, seq, idA, idB)
			}
			joins[strings.TrimPrefix(got, "joined ")] = true
		}
		if !joins[idA] || !joins[idB] {
			t.Fatalf("after the restart the program saw joins of %v, want %s and %s", joins, idA, idB)
		}
		want := map[string]bool{"known " + idA + ": from a": true, "known " + idB + ": from b": true}
		if !want[seq[2]] || !want[seq[3]] || seq[2] == seq[3] {
			t.Fatalf("client %d got %q, want the messages of a and b, from joined clients", i, seq[2:])
		}
	}
	writeText(t, b, "count")
	for i, c := range []*websocket.Conn{a, b} {
		for n := 1; n <= 100; n++ {
			got := readText(t, c)
			if got != fmt.Sprintf("n %d", n) {
				t.Fatalf("client %d got %q, want n %d: the output in order", i, got, n)
			}
			seqs[i] = append(seqs[i], got)
		}
	}
	if strings.Join(seqs[0], ",") != strings.Join(seqs[1], ",") {
		t.Fatalf("the instances saw another order:\n%v\n%v", seqs[0], seqs[1])
	}
	ss[0].waitLog(t, testTimeout, "group restart")
	if n := programsRunning(prog); n != 1 {
		t.Fatalf("%d programs running in the cluster after the restart, want 1", n)
	}
}

// counter is a program writing 1, 2, 3... every 10 ms.
const counter = `i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done`

// readCounter reads the counter on c until stop and checks every number
// follows the one before.
func readCounter(t *testing.T, c *websocket.Conn, until time.Time) (first, last int) {
	t.Helper()
	for time.Now().Before(until) {
		n, err := strconv.Atoi(readText(t, c))
		if err != nil {
			t.Fatal(err)
		}
		if last != 0 && n != last+1 {
			t.Fatalf("got %d after %d: a gap or a repeat", n, last)
		}
		if first == 0 {
			first = n
		}
		last = n
	}
	return first, last
}

// redis-server frozen for 3 s (SIGSTOP, SIGCONT): every client connected
// throughout sees every message once, in order, and the owner keeps its
// program (the lease is 5 s).
func TestRedisFrozen(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	var ss []*server
	for range 2 {
		ss = append(ss, startServer(t, "--broadcast", "--redis="+r.URL(), "sh", "-c", counter))
	}
	ca := dial(t, ss[0].URL("/"))
	readText(t, ca)
	cb := dial(t, ss[1].URL("/"))
	until := time.Now().Add(6 * time.Second)
	go func() {
		time.Sleep(time.Second)
		r.Freeze()
		time.Sleep(3 * time.Second)
		r.Thaw()
	}()
	var wg sync.WaitGroup
	for _, c := range []*websocket.Conn{ca, cb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, last := readCounter(t, c, until)
			t.Logf("read %d..%d", first, last)
		}()
	}
	wg.Wait()
	if strings.Contains(ss[0].Stderr(), "lease lost") {
		t.Fatalf("the owner lost its lease:\n%s", ss[0].Stderr())
	}
}

// redis-server killed and started again empty on the same port: the group
// serves again within seconds; what was lost is bounded by --redis-buffer,
// counted, and announced to the envelope program (which tells clients).
func TestRedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	need(t, "python3", "the envelope program")
	r := startRedis(t)
	prog := writeFile(t, t.TempDir()+"/count.py", `import json, sys, threading, time
def count():
    i = 0
    while True:
        i += 1
        print(json.dumps({"data": "%d %s" % (i, "x" * 100)}), flush=True)
        time.sleep(0.005)
threading.Thread(target=count, daemon=True).start()
for line in sys.stdin:
    m = json.loads(line)
    if m.get("event") == "gap":
        print(json.dumps({"data": "gap %d" % m["lost"]}), flush=True)
`, 0o644)
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startServer(t, "--broadcast", "--envelope", "--redis="+r.URL(), "--lease=2s", "--redis-buffer=4096", "--metrics-address="+metrics, "--passenv=PATH", "/usr/bin/python3", prog)
	b := startInstances(t, r, 1, "--envelope", "--lease=2s", "--redis-buffer=4096", "--passenv=PATH", "/usr/bin/python3", prog)[0]
	ca := dial(t, a.URL("/"))
	readText(t, ca)
	cb := dial(t, b.URL("/"))
	readText(t, cb)
	r.Kill()
	time.Sleep(time.Second) // the program writes ~200 messages meanwhile
	r.Start()
	restarted := time.Now()
	for _, c := range []*websocket.Conn{ca, cb} {
		sawGap := false
		for !sawGap {
			if time.Since(restarted) > 10*time.Second {
				t.Fatal("no gap announced")
			}
			sawGap = strings.HasPrefix(readText(t, c), "gap ")
		}
	}
	if d := time.Since(restarted); d > 5*time.Second {
		t.Fatalf("serving again %v after Redis came back", d)
	}
	prev := 0
	for range 50 { // and the count goes on
		m := readText(t, cb)
		if strings.HasPrefix(m, "gap ") {
			continue
		}
		n, _ := strconv.Atoi(strings.Fields(m)[0])
		if prev != 0 && n != prev+1 {
			t.Fatalf("got %d after %d once Redis was back", n, prev)
		}
		prev = n
	}
	if v := metricValue(scrapeMetrics(t, metrics), `wsbridge_redis_dropped_total{where="buffer"}`); v == "" || v == "0" {
		t.Fatalf("wsbridge_redis_dropped_total{where=\"buffer\"} = %q, want the dropped messages", v)
	}
}

// Startup errors name the flags.
func TestRedisFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--redis=redis://127.0.0.1:1/0", "cat"}, "--redis needs --broadcast"},
		{[]string{"--broadcast", "--lease=2s", "cat"}, "--lease needs --redis"},
		{[]string{"--broadcast", "--redis-prefix=x", "cat"}, "--redis-prefix needs --redis"},
		{[]string{"--broadcast", "--redis=http://x/", "cat"}, "--redis=http://x/"},
		{[]string{"--broadcast", "--redis=http://u:s3cret@x/", "cat"}, "--redis=http://u:xxxxx@x/"},
		{[]string{"--broadcast", "--redis=redis://127.0.0.1:1/0", "--lease=10ms", "cat"}, "--lease=10ms"},
		{[]string{"--broadcast", "--redis=redis://127.0.0.1:1/0", "--redis-password-file=/nonexistent", "cat"}, "--redis-password-file"},
	} {
		code, out := runWsbridge(t, nil, tc.args...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("wsbridge %q: exit %d, output %q; want an error naming %s", tc.args, code, out, tc.want)
		}
		if strings.Contains(out, "s3cret") {
			t.Errorf("wsbridge %q: the password is in the output %q", tc.args, out)
		}
	}
}
