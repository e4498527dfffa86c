// Package redistest runs a throwaway redis-server on a free loopback port
// for tests: no config file, no persistence, stopped when the test ends.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is one redis-server process; Kill and Start may replace it on the
// same port, empty.
type Server struct {
	t    testing.TB // nil for a topology's server: errors are returned
	bin  string
	Port int
	args []string // beyond the port and the defaults (a topology's role)
	// sentinelConf, for a sentinel, is its config file: its only argument.
	sentinelConf string
	cmd          *exec.Cmd
}

// Start starts a redis-server, or skips the test when there is none (fails
// under CI=true).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is missing: %v", err)
		}
		t.Skip("redis-server is not installed")
	}
	s := &Server{t: t, bin: bin, Port: freePort(t)}
	s.Start()
	t.Cleanup(func() { s.Kill() })
	return s
}

func freePort(t testing.TB) int {
	p, err := port(0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// port answers a free loopback port; with plus > 0, one whose port+plus
// is free too (a cluster node's bus port).
func port(plus int) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		if plus == 0 {
			l.Close()
			return p, nil
		}
		if p+plus < 65536 {
			if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+plus)); err == nil {
				l2.Close()
				l.Close()
				return p, nil
			}
		}
		l.Close()
	}
	return 0, fmt.Errorf("no free port with port+%d free", plus)
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the --redis URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Start starts the server (again, empty) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, s.args...)
	if s.sentinelConf != "" {
		args = []string{s.sentinelConf}
	}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.SysProcAttr = serverProcAttr()
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("%s on port %d does not answer", s.bin, s.Port)
}

func (s *Server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("answer %q", line)
	}
	return nil
}

// Kill ends the server with SIGKILL: its data is gone.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.Thaw() // a frozen process may not die of SIGKILL until it runs
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}
