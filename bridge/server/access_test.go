package server

import (
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func listenOrSkip(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s here: %v", network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestBeyondLoopback(t *testing.T) {
	t.Parallel()
	v4 := listenOrSkip(t, "tcp", "127.0.0.1:0")
	unix := listenOrSkip(t, "unix", filepath.Join(t.TempDir(), "s"))
	all := listenOrSkip(t, "tcp", ":0")
	any4 := listenOrSkip(t, "tcp", "0.0.0.0:0")
	tests := []struct {
		name string
		ls   []net.Listener
		want bool
	}{
		{"none", nil, false},
		{"loopback", []net.Listener{v4}, false},
		{"unix socket", []net.Listener{unix}, false},
		{"loopback and unix socket", []net.Listener{v4, unix}, false},
		{"all interfaces", []net.Listener{all}, true},
		{"0.0.0.0", []net.Listener{any4}, true},
		{"loopback and all interfaces", []net.Listener{v4, all}, true},
	}
	for _, tt := range tests {
		if got := beyondLoopback(tt.ls); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if v6, err := net.Listen("tcp", "[::1]:0"); err == nil {
		defer v6.Close()
		if beyondLoopback([]net.Listener{v6}) {
			t.Errorf("[::1] counted as reachable from other hosts")
		}
	}
}

func TestAccessURLs(t *testing.T) {
	t.Parallel()
	v4 := listenOrSkip(t, "tcp", "127.0.0.1:0")
	any4 := listenOrSkip(t, "tcp", "0.0.0.0:0")
	redir := listenOrSkip(t, "tcp", "127.0.0.1:0")
	unix := listenOrSkip(t, "unix", filepath.Join(t.TempDir(), "s"))
	port := func(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }
	cfg := &Config{SSL: true, RedirPort: redir.Addr().(*net.TCPAddr).Port}
	got := accessURLs(listeners{web: []net.Listener{v4, any4, redir, unix}}, cfg, "TOK")
	if !slices.Contains(got, "https://127.0.0.1:"+port(v4)+"/?token=TOK") ||
		!slices.Contains(got, "https://localhost:"+port(any4)+"/?token=TOK") {
		t.Errorf("URLs %q lack the loopback listener's or the all-interfaces one's", got)
	}
	for _, u := range got {
		if u == "https://127.0.0.1:"+port(redir)+"/?token=TOK" {
			t.Errorf("URLs %q name --redirport's listener", got)
		}
	}
}
