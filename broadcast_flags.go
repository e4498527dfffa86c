package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/wsbridge/wsbridge/bridge/broadcast"
)

// BroadcastFlags are the flags of broadcast sessions: one program shared by
// every client of a request path. They are embedded in cli.
type BroadcastFlags struct {
	Broadcast   bool          `name:"broadcast" help:"Share one program among all clients of the same request path (a group): /room/a and /room/b are two groups with two programs. Every output line (or --binary read) goes to every client of the group; every client message reaches the program's stdin whole, never interleaved with another client's. The program starts with the group's first client, holds one --maxforks slot, and gets the server-level CGI variables only; it is stopped when the last client leaves (after --linger). When it exits, every client gets its close code."`
	Replay      int           `name:"replay" placeholder:"N" help:"With --broadcast, send a joining client the group's last N output messages first, then the live ones, without a gap or a repeat. Default: 0."`
	Linger      time.Duration `name:"linger" placeholder:"DURATION" help:"With --broadcast, keep a group's program running for DURATION after its last client left; a client arriving meanwhile keeps it. Default: 0, stop it at once."`
	ClientQueue int           `name:"client-queue" default:"1048576" placeholder:"BYTES" help:"With --broadcast, most bytes of output waiting for one client; a client that falls further behind is closed with 1013 \"too slow\", and the program and the other clients go on at full speed. It also bounds a message. Default: ${default}."`
	Restart     string        `name:"restart" default:"never" enum:"never,on-failure,always" placeholder:"WHEN" help:"With --broadcast, start a group's program again when it ends instead of closing its clients: never, on-failure (a non-zero exit or a signal) or always. Restarts wait 100ms, doubling to 10s, reset after 10s of uptime; clients stay connected, and their messages meanwhile are dropped. Default: never."`
	Envelope    bool          `name:"envelope" help:"With --broadcast, speak JSON lines with the program: a client message arrives as {\"client\":\"ID\",\"data\":\"...\"}, joins and leaves as {\"event\":\"join\",...} and {\"event\":\"leave\",...}; each output line must be {\"data\":\"...\"} (to all), {\"data\":\"...\",\"to\":[\"ID\",...]} (to those) or {\"close\":\"ID\",\"code\":4001,\"reason\":\"...\"}. Clients see only the data. Text mode only."`
}

// validateBroadcast checks the flags of this file's concern.
func (c *cli) validateBroadcast() error {
	needsBroadcast := []struct {
		flag string
		set  bool
	}{
		{"--replay", c.Replay != 0},
		{"--linger", c.Linger != 0},
		{"--client-queue", c.ClientQueue != broadcast.DefaultClientQueue},
		{"--restart", c.Restart != string(broadcast.RestartNever)},
		{"--envelope", c.Envelope},
	}
	for _, n := range needsBroadcast {
		if n.set && !c.Broadcast {
			return fmt.Errorf("%s needs --broadcast", n.flag)
		}
	}
	switch {
	case !c.Broadcast:
		return nil
	case c.Terminal:
		return errors.New("--broadcast cannot be combined with --terminal: a terminal shares its program with --shared")
	case c.PassStderr:
		return errors.New("--broadcast cannot be combined with --passstderr: stderr of a shared program is logged")
	case c.URLArg:
		return errors.New("--broadcast cannot be combined with --url-arg: the program is shared, and its arguments would be one client's")
	case c.Envelope && c.Binary:
		return errors.New("--envelope cannot be combined with --binary: envelopes are JSON text lines")
	case c.Replay < 0:
		return fmt.Errorf("--replay=%d: must be 0 (off) or more", c.Replay)
	case c.Linger < 0:
		return fmt.Errorf("--linger=%s: must be 0 (off) or more", c.Linger)
	case c.ClientQueue < 64:
		return fmt.Errorf("--client-queue=%d: must be at least 64 bytes", c.ClientQueue)
	}
	_, err := broadcast.ParseRestart(c.Restart)
	if err != nil {
		return fmt.Errorf("--restart=%s: %w", c.Restart, err)
	}
	return nil
}

// broadcastKind is the broadcast session kind of the flags (--broadcast).
func (c *cli) broadcastKind(m *metrics) *broadcast.Kind {
	restart, _ := broadcast.ParseRestart(c.Restart) // checked by validate
	opts := broadcast.Options{
		Binary:       c.Binary,
		MaxFrameSize: c.MaxFrameSize,
		Replay:       c.Replay,
		Linger:       c.Linger,
		ClientQueue:  c.ClientQueue,
		Restart:      restart,
		Envelope:     c.Envelope,
		MaxClients:   c.MaxClients,
		PTY:          c.PTY,
		Term:         c.Term,
	}
	if m != nil {
		opts.Observer = m.broadcast
	}
	return broadcast.New(opts)
}
