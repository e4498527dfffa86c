//go:build unix

package main_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/gatetest/rawws"
)

// Helpers of the churn and fault tests (e2e_churn_test.go,
// e2e_fault_test.go): what a daemon holds, and a raw-socket WebSocket
// client that can leave in every way a real one does.

// --- what a daemon holds ---

// held is what a daemon holds at one moment: open descriptors, goroutines
// (go_goroutines from --metrics-address), live descendant processes, and
// resident memory.
type held struct {
	fds, goroutines, children int
	rss                       int
}

func (h held) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, %d children, RSS %d MiB", h.fds, h.goroutines, h.children, h.rss>>20)
}

// Leeway of a daemon's state over its baseline once a batch of clients has
// gone: a scrape of /metrics or a Redis connection being replaced may be
// in flight; children must all be gone. Memory may grow by what the heap
// keeps for the next burst, never with the number of clients served.
const (
	fdLeeway        = 2
	goroutineLeeway = 3
	rssLeeway       = 64 << 20
)

// watched is a daemon whose holdings a test compares with a baseline.
type watched struct {
	name    string
	s       *server
	metrics string // its --metrics-address
	base    held
	// rssLeeway, if set, replaces the default: a test with many clients
	// at once leaves the heap (and the race detector's shadow of it) as
	// large as they made it until the runtime gives it back, minutes later.
	rssLeeway int
}

// watch starts wsbridge with a metrics listener (for its goroutine count)
// and args.
func watch(t testing.TB, name string, args ...string) *watched {
	t.Helper()
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, append([]string{"--metrics-address=" + metrics}, args...)...)
	return &watched{name: name, s: s, metrics: metrics}
}

func (w *watched) pid() int { return w.s.cmd.Process.Pid }

// now reads what the daemon holds.
func (w *watched) now() (held, error) {
	var h held
	pid := w.pid()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return h, err
	}
	h.fds = len(fds)
	h.children = len(descendants(pid))
	h.goroutines, err = goroutines(w.metrics)
	if err != nil {
		return h, err
	}
	h.rss, err = rssOf(pid)
	return h, err
}

// goroutines scrapes go_goroutines, on a connection of its own that the
// daemon closes after the answer.
func goroutines(metricsAddr string) (int, error) {
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	v := metricValue(string(body), "go_goroutines")
	if v == "" {
		return 0, errors.New("no go_goroutines in /metrics")
	}
	return strconv.Atoi(v)
}

func rssOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "VmRSS:" {
			kb, err := strconv.Atoi(f[1])
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// descendants lists the processes under pid, zombies included: a child
// the daemon did not reap is left behind as much as a running one.
func descendants(pid int) []int {
	parent := map[int]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		id, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		f, err := procStat(id)
		if err != nil || len(f) < 2 {
			continue
		}
		parent[id], _ = strconv.Atoi(f[1])
	}
	var out []int
	for id := range parent {
		for p := parent[id]; p > 1; p = parent[p] {
			if p == pid {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// baseline waits until the daemon's descriptors and goroutines hold still
// (three equal readings in a row) and records them.
func (w *watched) baseline(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	var last held
	same := 0
	for {
		h, err := w.now()
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if h.fds == last.fds && h.goroutines == last.goroutines && h.children == last.children {
			same++
		} else {
			same = 0
		}
		last = h
		if same == 2 {
			w.base = h
			t.Logf("%s baseline: %v", w.name, h)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never settled; last %v", w.name, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settled waits (polling) until the daemon holds no more than its baseline
// and the leeways, and fails the test if it does not within the deadline.
func (w *watched) settled(t testing.TB, after string, within time.Duration) held {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h, err := w.now()
		if err != nil {
			t.Fatalf("%s after %s: %v", w.name, after, err)
		}
		excess := w.excess(h)
		if excess == "" {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after %s: %s within %v (baseline %v, now %v); its sockets: %s",
				w.name, after, excess, within, w.base, h, socketStates(w.pid()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// excess says what h holds beyond the baseline and the leeways; "" if
// nothing.
func (w *watched) excess(h held) string {
	var why []string
	if h.fds > w.base.fds+fdLeeway {
		why = append(why, fmt.Sprintf("%d descriptors left behind", h.fds-w.base.fds))
	}
	if h.goroutines > w.base.goroutines+goroutineLeeway {
		why = append(why, fmt.Sprintf("%d goroutines left behind", h.goroutines-w.base.goroutines))
	}
	if h.children != w.base.children {
		why = append(why, fmt.Sprintf("%d children, baseline %d", h.children, w.base.children))
	}
	leeway := rssLeeway
	if w.rssLeeway > 0 {
		leeway = w.rssLeeway
	}
	if h.rss > w.base.rss+leeway {
		why = append(why, fmt.Sprintf("RSS grew by %d MiB", (h.rss-w.base.rss)>>20))
	}
	return strings.Join(why, ", ")
}

// socketStates counts the daemon's TCP sockets by state, from
// /proc/net/tcp{,6} matched to its descriptors' inodes.
func socketStates(pid int) string {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	names := map[string]string{"01": "ESTABLISHED", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "0A": "LISTEN", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "09": "LAST_ACK"}
	count := map[string]int{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(file)
		for _, l := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) > 9 && inodes[f[9]] {
				st := names[f[3]]
				if st == "" {
					st = f[3]
				}
				count[st]++
			}
		}
	}
	return fmt.Sprint(count)
}

// --- a raw-socket WebSocket client ---

// rawWS is a raw-socket WebSocket client (rawws) that also keeps what it
// has read, for await.
type rawWS struct {
	*rawws.Conn
	got  strings.Builder // payloads of the data frames read so far
	seen string          // what await last found its token in
}

// dialRaw opens a WebSocket to path at addr, offering proto if not empty;
// rcvbuf > 0 shrinks the socket's receive buffer (a client that will stop
// reading) before the handshake.
func dialRaw(addr, path, proto string, rcvbuf int) (*rawWS, error) {
	c, err := rawws.Dial(addr, rawws.Options{Path: path, Protocol: proto, RcvBuf: rcvbuf, Timeout: testTimeout})
	if err != nil {
		return nil, err
	}
	return &rawWS{Conn: c}, nil
}

// closeFrame sends a close frame with code 1000.
func (c *rawWS) closeFrame() error { return c.SendClose(1000, "bye") }

// await reads until the data received so far holds token.
func (c *rawWS) await(token string, within time.Duration) error {
	c.TCP.SetReadDeadline(time.Now().Add(within))
	defer c.TCP.SetReadDeadline(time.Time{})
	for !strings.Contains(c.got.String(), token) {
		op, p, err := c.ReadFrame()
		if err != nil {
			return fmt.Errorf("waiting for %q: %w", token, err)
		}
		switch op {
		case rawws.OpClose:
			return fmt.Errorf("waiting for %q: closed %q", token, p)
		case rawws.OpText, rawws.OpBinary, rawws.OpContinuation:
			c.got.Write(p)
		}
	}
	c.seen = c.got.String()
	c.got.Reset()
	return nil
}

// untilClose reads until the server's close frame (its code) or an error.
func (c *rawWS) untilClose(within time.Duration) (int, error) {
	c.TCP.SetReadDeadline(time.Now().Add(within))
	for {
		op, p, err := c.ReadFrame()
		if err != nil {
			return 0, err
		}
		if op == rawws.OpClose {
			if len(p) < 2 {
				return 1005, nil
			}
			return int(binary.BigEndian.Uint16(p)), nil
		}
	}
}

// drain reads and drops everything until the connection ends.
func (c *rawWS) drain() {
	for {
		if _, _, err := c.ReadFrame(); err != nil {
			return
		}
	}
}
