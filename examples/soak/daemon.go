//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is one wsbridge under soak, with a metrics listener for its
// goroutine count.
type daemon struct {
	name    string
	cmd     *exec.Cmd
	addr    string
	metrics string
	log     string // the file its output goes to
}

// start runs bin with args on free loopback ports, its output to a file in
// dir, and waits until it answers.
func start(bin, dir, name string, args ...string) (*daemon, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &daemon{name: name, addr: "127.0.0.1:" + strconv.Itoa(port), metrics: "127.0.0.1:" + strconv.Itoa(mport),
		log: filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".log")}
	out, err := os.Create(d.log)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the daemon has its own copy
	full := append([]string{"--address=127.0.0.1", "--port=" + strconv.Itoa(port), "--metrics-address=" + d.metrics, "--loglevel=access"}, args...)
	d.cmd = exec.Command(bin, full...)
	d.cmd.Stdout, d.cmd.Stderr = out, out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", d.addr); err == nil {
			c.Close()
			return d, nil
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("%s does not listen on %s", name, d.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop ends the daemon with SIGTERM (SIGKILL 15 s later).
func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		d.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// holding is what a daemon holds at one moment.
type holding struct {
	fds, goroutines, children, rss int
}

func (d *daemon) holding() (holding, error) {
	var h holding
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.pid()))
	if err != nil {
		return h, err
	}
	h.fds = len(fds)
	h.children = descendants(d.pid())
	if h.goroutines, err = metric(d.metrics, "go_goroutines"); err != nil {
		return h, err
	}
	rss, err := metric(d.metrics, "process_resident_memory_bytes")
	h.rss = rss
	return h, err
}

// metric reads one gauge from the daemon's /metrics.
func metric(addr, name string) (int, error) {
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// descendants counts the processes under pid, zombies included.
func descendants(pid int) int {
	parent := map[int]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if i < 0 || len(f) < 2 {
			continue
		}
		id, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		parent[id], _ = strconv.Atoi(f[1])
	}
	n := 0
	for id := range parent {
		for p := parent[id]; p > 1; p = parent[p] {
			if p == pid {
				n++
				break
			}
		}
	}
	return n
}

// redisServer runs a throwaway redis-server, if there is one.
type redisServer struct {
	cmd  *exec.Cmd
	addr string
}

func startRedis() (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port)}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "+PONG\r\n" {
				return r, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop()
	return nil, errors.New("redis-server does not answer")
}

func (r *redisServer) stop() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}
