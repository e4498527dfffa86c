package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

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
