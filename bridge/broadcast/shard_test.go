package broadcast_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/broadcast"
)

// A group large enough to be written by several shards keeps every
// guarantee of one writer: clients that join while output flows get the
// replay and then every later message, with no gap and no repeat, in
// order; and the last message reaches all of them before the close.
func TestShardsKeepOrderAcrossJoins(t *testing.T) {
	t.Parallel()
	const clients, msgs = 300, 400
	hub, obs, url := newHub(t, broadcast.Options{Replay: 5}, "exec cat")
	sender := dial(t, url+"/g", 0)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	joined := make(chan struct{}, clients)
	// A few dials at a time: a loaded machine answers each in time.
	dialing := make(chan struct{}, 8)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half join before the output, the rest spread over it,
			// each with its replay.
			if i > clients/2 {
				time.Sleep(time.Duration(i-clients/2) * 3 * time.Millisecond)
			}
			dialing <- struct{}{}
			c, err := dialErr(url + "/g")
			<-dialing
			joined <- struct{}{}
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			defer c.CloseNow()
			errs <- readConsecutive(c, msgs)
		}()
	}
	for range clients / 2 {
		<-joined
	}
	for i := 1; i <= msgs; i++ {
		write(t, sender, strconv.Itoa(i))
		if i%50 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := readConsecutive(sender, msgs); err != nil {
		t.Fatalf("sender: %v", err)
	}
	if n := obs.slow.Load(); n != 0 {
		t.Fatalf("%d clients closed as too slow", n)
	}
	sender.Close(websocket.StatusNormalClosure, "")
	_ = hub
}

// dialErr is dial for a goroutine other than the test's: it returns the
// error.
func dialErr(url string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(-1)
	return c, nil
}

// readConsecutive reads numbers until last, each one more than the one
// before.
func readConsecutive(c *websocket.Conn, last int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prev := 0
	for prev != last {
		_, b, err := c.Read(ctx)
		if err != nil {
			return fmt.Errorf("after %d: %w", prev, err)
		}
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return fmt.Errorf("after %d: %q", prev, b)
		}
		if prev != 0 && n != prev+1 {
			return fmt.Errorf("got %d after %d", n, prev)
		}
		prev = n
	}
	c.Close(websocket.StatusNormalClosure, "")
	return nil
}
