//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// The client passes context.Background() to every Read and Write: a
// context with a Done channel costs the client about as much as the
// server's work per message. Stalled runs end with a separate timer.
var bg = context.Background()

const stallAfter = time.Minute

func dial(url string) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(bg, url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c.SetReadLimit(1 << 20)
	return c, nil
}

// echoResult is one echo run: messages per second, megabytes per second
// and the daemon's CPU (with its reaped children) per message.
type echoResult struct {
	msgsPerSec, mbPerSec, cpuPerMsg float64
}

// measureEcho opens conns connections and echoes perConn messages of size
// bytes through each, window in flight per connection, then closes them and
// waits for the children to be reaped before reading the daemon's CPU.
func measureEcho(t *target, conns, window, size, perConn int) (echoResult, error) {
	payload := bytes.Repeat([]byte("x"), size)
	cs := make([]*websocket.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.CloseNow()
		}
	}()
	for i := 0; i < conns; i++ {
		c, err := dial(t.url())
		if err != nil {
			return echoResult{}, err
		}
		cs = append(cs, c)
		// One echo first: the child is running before the clock starts.
		if err := c.Write(bg, websocket.MessageText, payload); err != nil {
			return echoResult{}, err
		}
		if _, _, err := c.Read(bg); err != nil {
			return echoResult{}, err
		}
	}
	stall := time.AfterFunc(stallAfter, func() {
		for _, c := range cs {
			c.CloseNow()
		}
	})
	defer stall.Stop()
	cpu0 := procCPU(t.pid())
	start := time.Now()
	errs := make(chan error, 2*conns)
	var wg sync.WaitGroup
	for _, c := range cs {
		credit := make(chan struct{}, window)
		for i := 0; i < window; i++ {
			credit <- struct{}{}
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < perConn; i++ {
				<-credit
				if err := c.Write(bg, websocket.MessageText, payload); err != nil {
					errs <- fmt.Errorf("write: %w", err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < perConn; i++ {
				_, got, err := c.Read(bg)
				if err != nil {
					errs <- fmt.Errorf("after %d of %d echoes: %w", i, perConn, err)
					return
				}
				if len(got) != size {
					errs <- fmt.Errorf("echo of %d bytes, want %d", len(got), size)
					return
				}
				credit <- struct{}{}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return echoResult{}, err
	default:
	}
	for _, c := range cs {
		c.Close(websocket.StatusNormalClosure, "")
	}
	cs = nil
	waitReaped(t.pid())
	n := float64(conns * perConn)
	return echoResult{
		msgsPerSec: n / elapsed.Seconds(),
		mbPerSec:   n * float64(size) / 1e6 / elapsed.Seconds(),
		cpuPerMsg:  (procCPU(t.pid()) - cpu0) / n,
	}, nil
}

// measureLatency returns the p50 and p99 round trip of one 64-byte message
// at a time, in microseconds.
func measureLatency(t *target, n int) (p50, p99 float64, err error) {
	c, err := dial(t.url())
	if err != nil {
		return 0, 0, err
	}
	defer c.CloseNow()
	stall := time.AfterFunc(stallAfter, func() { c.CloseNow() })
	defer stall.Stop()
	payload := bytes.Repeat([]byte("x"), 64)
	rtts := make([]time.Duration, n)
	for i := -100; i < n; i++ { // the first 100 warm up
		start := time.Now()
		if err := c.Write(bg, websocket.MessageText, payload); err != nil {
			return 0, 0, err
		}
		if _, _, err := c.Read(bg); err != nil {
			return 0, 0, err
		}
		if i >= 0 {
			rtts[i] = time.Since(start)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return us(rtts[n/2]), us(rtts[n*99/100]), nil
}

// connectResult is one connect run: sessions per second, and CPU per
// session of the daemon with its reaped children, of the daemon alone and
// of this client.
type connectResult struct {
	perSec, cpuPer, selfPer, clientPer float64
}

// clientCPU is this process's CPU time in seconds.
func clientCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// measureConnect runs n sessions, parallel at a time: connect, (upgrade),
// spawn, echo one message, close.
func measureConnect(t *target, parallel, n int) (connectResult, error) {
	cpu0, self0, client0 := procCPU(t.pid()), procCPUSelf(t.pid()), clientCPU()
	start := time.Now()
	jobs := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	errs := make(chan error, parallel)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if err := connectOnce(t); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	client := clientCPU() - client0
	select {
	case err := <-errs:
		return connectResult{}, err
	default:
	}
	waitReaped(t.pid())
	return connectResult{
		perSec:    float64(n) / elapsed.Seconds(),
		cpuPer:    (procCPU(t.pid()) - cpu0) / float64(n),
		selfPer:   (procCPUSelf(t.pid()) - self0) / float64(n),
		clientPer: client / float64(n),
	}, nil
}

func connectOnce(t *target) error {
	line := append(bytes.Repeat([]byte("x"), 64), '\n')
	if !t.ws {
		c, err := net.Dial("tcp", t.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(stallAfter))
		if _, err := c.Write(line); err != nil {
			return err
		}
		_, err = io.ReadFull(c, make([]byte, len(line)))
		return err
	}
	c, err := dial(t.url())
	if err != nil {
		return err
	}
	defer c.CloseNow()
	stall := time.AfterFunc(stallAfter, func() { c.CloseNow() })
	defer stall.Stop()
	if err := c.Write(bg, websocket.MessageText, line[:64]); err != nil {
		return err
	}
	if _, _, err := c.Read(bg); err != nil {
		return err
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

// idleResult is what n idle sessions cost a fresh server.
type idleResult struct {
	kbPerSession, fdsPerSession float64
}

// measureIdle starts a fresh server (a used one reuses memory it already
// has), holds n sessions that each echoed once, and returns the growth of
// its resident memory and descriptors per session. With echoAll every
// session echoes once more, all at once, before they close.
func measureIdle(s spec, own bool, n int, echoAll bool) (idleResult, error) {
	t, err := s.start(own)
	if err != nil {
		return idleResult{}, err
	}
	defer t.stop()
	if err := connectOnce(t); err != nil { // runtime warm, lazy state built
		return idleResult{}, err
	}
	waitReaped(t.pid())
	time.Sleep(300 * time.Millisecond)
	rss0, fd0 := rssKB(t.pid()), fdCount(t.pid())
	cs := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range cs {
			c.CloseNow()
		}
	}()
	payload := bytes.Repeat([]byte("x"), 64)
	for i := 0; i < n; i++ {
		c, err := dial(t.url())
		if err != nil {
			return idleResult{}, fmt.Errorf("session %d: %w", i+1, err)
		}
		cs = append(cs, c)
		if err := c.Write(bg, websocket.MessageText, payload); err != nil {
			return idleResult{}, err
		}
		if _, _, err := c.Read(bg); err != nil {
			return idleResult{}, fmt.Errorf("session %d: %w", i+1, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	res := idleResult{
		kbPerSession:  float64(rssKB(t.pid())-rss0) / float64(n),
		fdsPerSession: float64(fdCount(t.pid())-fd0) / float64(n),
	}
	if echoAll {
		var wg sync.WaitGroup
		errs := make(chan error, len(cs))
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Write(bg, websocket.MessageText, payload); err != nil {
					errs <- err
					return
				}
				if _, _, err := c.Read(bg); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return res, fmt.Errorf("echo through all %d sessions: %w", n, err)
		}
	}
	return res, nil
}
