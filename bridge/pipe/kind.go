// Package pipe runs line and binary sessions: one process per connection,
// its stdout and stderr cut into messages, client messages batched into its
// stdin, with backpressure both ways, on pipes or with --pty on a
// pseudo-terminal.
package pipe

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// Options configure pipe sessions. The zero value is websocketd's default:
// text lines on pipes, stderr logged.
type Options struct {
	// Binary sends raw bytes both ways instead of lines (--binary).
	Binary bool
	// PassStderr sends stdout and stderr lines as JSON (--passstderr).
	PassStderr bool
	// MaxFrameSize limits a client message, and cuts long output lines into
	// messages of at most this size (--maxframesize); 0: unlimited.
	MaxFrameSize int64
	// PTY runs the program on a pseudo-terminal instead of pipes (--pty),
	// sized by the request's ?cols=&rows= (default 80x24), with echo off.
	// The program sees a terminal, so it line-buffers its output; stderr
	// is merged into stdout.
	PTY bool
	// Term is TERM with PTY (--term); empty: session.DefaultTerm.
	Term string
	// Framing is how messages are delimited on the program's stdin and
	// stdout (--framing); empty: FramingLine.
	Framing Framing
}

// Framing is how a pipe session delimits messages on the program's stdin
// and stdout.
type Framing string

const (
	// FramingLine: a text message per line, or with Binary each read one
	// message (websocketd's modes).
	FramingLine Framing = "line"
	// FramingNUL: each message ends with a NUL byte both ways; a client
	// message holding one is refused with 1007.
	FramingNUL Framing = "nul"
	// FramingLength: each message both ways is a record, a 5-byte header
	// (type 1 text or 2 binary, length big-endian) and the payload.
	FramingLength Framing = "length"
)

// Kind is the pipe session kind (session.Kind).
type Kind struct{ opts Options }

// New returns the pipe kind for opts.
func New(opts Options) *Kind { return &Kind{opts: opts} }

// Admit negotiates --subprotocol and takes the process slot, before the
// upgrade.
func (k *Kind) Admit(g session.Gate, r *http.Request, ep session.Endpoint) (*session.Admission, error) {
	proto, err := g.Subprotocol(r)
	if err != nil {
		return nil, err
	}
	if err := g.CheckOpen(); err != nil {
		return nil, err
	}
	// The slot is taken before the upgrade so a refused client learns it
	// from the status line, and is given back when the child is reaped.
	slot, err := g.TakeSlot()
	if err != nil {
		return nil, err
	}
	return &session.Admission{Protocol: proto, Starts: true, Slot: slot}, nil
}

// Serve starts the program and runs the session on a goroutine of its own.
func (k *Kind) Serve(c *session.Conn) {
	g, r, log, slot := c.Gate, c.Request, c.Log, c.Slot
	cfg := c.Program()
	if k.opts.PTY {
		session.OnTerminal(&cfg, session.RequestSize(r), k.opts.Term, false)
	}
	start := time.Now()
	proc, err := process.Start(cfg)
	if err != nil {
		log.Error("spawn failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		g.Observer().SpawnFailed()
		c.WS.Close(session.SpawnFailureClose(err))
		slot.Free()
		slot.Ended()
		return
	}
	log = log.With("pid", proc.Pid)
	log.Log(r.Context(), session.LevelAccess, "connect", "remote", r.RemoteAddr, "path", r.URL.Path)
	g.Observer().SessionStarted()

	s := &pipeSession{
		opts: &k.opts, log: log, conn: c.WS, br: c.Buffered, cork: c.Cork, proc: proc,
		ping: g.Tunables().PingInterval,
		obs:  g.Observer(), limits: g.Limits(),
		stdin: frame.StdinWriter{File: proc.Stdin},
		out:   frame.Emitter{Conn: c.WS, Type: websocket.MessageText},
		errs:  frame.Emitter{Conn: c.WS, Type: websocket.MessageText, Stream: "stderr"},
	}
	if k.opts.Binary {
		s.out.Type = websocket.MessageBinary
	}
	s.inflated.On = c.Compression != session.CompressionOff
	switch k.opts.Framing {
	case FramingNUL:
		s.stdin.NoNUL = true
	case FramingLength:
		s.stdin.Whole = true
		// Text records are checked before they are sent: their pieces
		// need no rewriting, even split inside a character.
		s.out.Checked = true
	}
	if k.opts.PassStderr {
		s.out.Stream = "stdout"
	}
	remote, path := r.RemoteAddr, r.URL.Path
	// The slot goes back as soon as the child is reaped, before the
	// disconnect is logged (whoever reads the log may connect again) and
	// before the registry lets Shutdown return; --once shuts down only
	// after that.
	s.ended = func(st process.Status) {
		defer slot.Ended()
		defer g.Untrack(s)
		slot.Free()
		d := time.Since(start)
		bytesOut, msgsOut := s.out.Bytes+s.errs.Bytes, s.out.Msgs+s.errs.Msgs
		// finish always sends a close code: the first one is reported.
		g.Observer().SessionEnded(websocket.StatusCode(s.sentCode.Load()), d, s.bytesIn, bytesOut, s.msgsIn, msgsOut)
		if !log.Enabled(context.Background(), session.LevelAccess) {
			return // spare the attributes' allocations
		}
		attrs := []any{
			"remote", remote, "path", path,
			"exit", st.String(), "duration_ms", d.Milliseconds(),
			"bytes_in", s.bytesIn, "bytes_out", bytesOut,
			"msgs_in", s.msgsIn, "msgs_out", msgsOut,
		}
		if s.clientClose != nil {
			attrs = append(attrs, "client", session.ClientCloseText(s.clientClose))
		}
		log.Log(context.Background(), session.LevelAccess, "disconnect", attrs...)
	}
	s.rate = s.limits.NewMsgLimiter()
	s.idle = session.NewIdleTimer(s.limits.IdleTimeout, s.idleOut)
	g.Track(s)
	// The session runs on goroutines of its own, owned by the registry, so
	// the HTTP server's connection goroutine, its deep stack and the
	// request can go: an idle session keeps only what it uses.
	go s.run()
}
