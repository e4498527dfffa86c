package main_test

import (
	"bytes"
	"context"
	"errors"
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

// svcSession reads everything a session sends until it ends.
type svcSession struct {
	pgid  int
	lines []string
	err   error // how it ended
}

// svcCollect reads conn until it closes; the first message must be "pgid N".
func svcCollect(conn *websocket.Conn) *svcSession {
	s := new(svcSession)
	for {
		_, msg, err := conn.Read(context.Background())
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

// svcGroupGone reports whether no live process of the group remains.
// Zombies count as gone: orphans wait for init to reap them, which in some
// containers takes a second or more, and they run no code.
func svcGroupGone(pgid int) bool {
	if errors.Is(unix.Kill(-pgid, 0), unix.ESRCH) {
		return true
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return false
		}
	}
	return true
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
	script := svcScript(t, dir, "ticker.sh", fmt.Sprintf(`
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
	port := svcFreePort(t)
	d, addr := svcStart(t, svcOpts{}, "--address=127.0.0.1", fmt.Sprintf("--port=%d", port), script)

	var wg sync.WaitGroup
	queries := []string{"", "", "grand"}
	results := make([]*svcSession, len(queries))
	for i, q := range queries {
		c := svcDial(t, "ws://"+addr+"/?"+q, nil)
		wg.Go(func() { results[i] = svcCollect(c) })
	}
	time.Sleep(400 * time.Millisecond)
	sent := time.Now()
	d.signal(syscall.SIGTERM)
	if code := d.exitCode(10 * time.Second); code != 0 {
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
		if !svcGroupGone(s.pgid) {
			t.Errorf("session %d: process group %d still has members after the daemon exited", i, s.pgid)
			unix.Kill(-s.pgid, unix.SIGKILL)
		}
	}
	// The grandchildren outlive SIGINT; SIGTERM, 350 ms into the kill
	// sequence, ends them.
	if took > 5*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	d.waitLog("shutting down", time.Second)
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
			script := svcScript(t, dir, "stubborn.sh", `trap '' INT TERM
echo "pgid $$"
while :; do echo x; sleep 0.05; done
`)
			args := append([]string{"--address=127.0.0.1", fmt.Sprintf("--port=%d", svcFreePort(t)), "--closems=5000"}, tt.args...)
			d, addr := svcStart(t, svcOpts{}, append(args, script)...)
			c := svcDial(t, "ws://"+addr+"/", nil)
			done := make(chan *svcSession, 1)
			go func() { done <- svcCollect(c) }()
			time.Sleep(200 * time.Millisecond)
			start := time.Now()
			for i := 0; i < tt.signals; i++ {
				d.signal(syscall.SIGTERM)
				time.Sleep(100 * time.Millisecond)
			}
			if code := d.exitCode(tt.atMost + 5*time.Second); code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			if took := time.Since(start); took > tt.atMost {
				t.Errorf("took %v, want at most %v", took, tt.atMost)
			}
			s := <-done
			if s.pgid == 0 || !svcGroupGone(s.pgid) {
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
	port := svcFreePort(t)
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("port = %d\naddress = \"127.0.0.1\"\nmaxforks = 1\npingms = 0\ncommand = [\"cat\"]\n", port))
	d, addr := svcStart(t, svcOpts{}, "--config="+conf, "--closems=7")
	url := "ws://" + addr + "/"

	first := svcDial(t, url, nil)
	if got := svcEcho(t, first, "one"); got != "one" {
		t.Fatalf("echo %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("second session at maxforks=1: %v, want 429", err)
	}

	write(fmt.Sprintf("port = %d\naddress = \"127.0.0.1\"\nmaxforks = 2\npingms = 0\ncloseMs = 1\ncommand = [\"cat\"]\n", port+1))
	d.signal(syscall.SIGHUP)
	// A bad key makes the whole reload fail, and nothing change.
	d.waitLog("reload failed", 5*time.Second)
	d.waitLog(`unknown key \"closeMs\"`, time.Second)

	write(fmt.Sprintf("port = %d\naddress = \"127.0.0.1\"\nmaxforks = 2\npingms = 0\nclosems = 100\ncommand = [\"cat\"]\n", port+1))
	d.signal(syscall.SIGHUP)
	d.waitLog("msg=\"setting changed\" name=maxforks old=1 new=2", 5*time.Second)
	d.waitLog("needs a restart to apply\" name=port", time.Second)
	second := svcDial(t, url, nil)
	if got := svcEcho(t, second, "two"); got != "two" {
		t.Fatalf("echo %q", got)
	}
	if got := svcEcho(t, first, "still here"); got != "still here" {
		t.Fatalf("the first session did not survive the reload: %q", got)
	}
	if strings.Contains(d.output(), "name=closems") {
		t.Errorf("--closems on the command line must win over the file:\n%s", d.output())
	}
	first.Close(websocket.StatusNormalClosure, "")
	second.Close(websocket.StatusNormalClosure, "")
	d.signal(syscall.SIGTERM)
	if code := d.exitCode(10 * time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}
