package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"
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
			unix.Kill(-s.pgid, unix.SIGKILL)
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
					unix.Kill(-s.pgid, unix.SIGKILL)
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
