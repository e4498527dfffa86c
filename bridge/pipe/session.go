package pipe

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/internal/frameguard"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// stderrDrain bounds how long a finished session waits for the last stderr
// of a process group whose members have all exited; only a process that
// escaped the group can hold the pipe open that long.
const stderrDrain = time.Second

// pipeSession pumps one WebSocket connection to one child and back. Its
// goroutines are all owned and waited for by the session's end (finish):
// one carries stdout to the client while the child is writing it (see
// output.go), one reads the client into stdin, one sends pings when
// --pingms is set, and one reads stderr only while the child is writing to
// it (see stderr.go).
type pipeSession struct {
	opts *Options
	log  *slog.Logger
	conn *websocket.Conn
	br   *bufio.Reader
	cork *frame.CorkWriter
	proc *process.Process
	ping time.Duration // --pingms when the session started
	obs  session.Observer

	limits session.Limits
	rate   session.MsgLimiter // --msg-rate, owned by pumpInput
	idle   *session.IdleTimer // --idle-timeout; nil: none

	ctx    context.Context // cancelled when the session ends; only for pings
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stdin frame.StdinWriter
	// inflated checks what coder/websocket inflated, when the connection
	// negotiated compression: the frameguard saw only compressed bytes.
	inflated   frameguard.InflateCheck
	out, errs  frame.Emitter
	stdout     *frame.StreamReader
	stderr     stderrReader
	stderrDone chan struct{}
	// ended reports the session's end to Serve, with the child's status.
	ended func(process.Status)

	// goingAway is set when the server shuts down: the session ends with
	// 1001 instead of the child's status.
	goingAway atomic.Bool
	// sentCode is the first close code the server sent, for metrics.
	sentCode atomic.Int32
	// closing is set once the server starts the close handshake, so the
	// client's echo of it is not logged as the client's doing.
	closing atomic.Bool

	msgsIn, bytesIn int64
	clientClose     error // why the client side ended, if it ended first

	// failure is the close a client's error calls for (a protocol error,
	// a message over --maxframesize, binary in text mode). It goes out once
	// the child has answered what it already read, or after the kill
	// sequence's first wait, whichever comes first.
	failure    atomic.Pointer[closeFrame]
	outputDone chan struct{} // closed when stdout has ended
}

// closeFrame is a close code and reason to send.
type closeFrame struct {
	code   websocket.StatusCode
	reason string
}

// pumpInput carries client messages to stdin. When the client side ends, for
// whatever reason, so does the child: the kill sequence starts.
func (s *pipeSession) pumpInput() {
	defer s.wg.Done()
	defer s.proc.Stop()
	for {
		typ, r, err := s.conn.Reader(bg)
		if err != nil {
			s.readFailed(err)
			return
		}
		switch s.rate.Check() {
		case session.Drop:
			s.obs.MessageDropped(session.DroppedMsgRate)
			if _, err := io.Copy(io.Discard, r); err != nil {
				s.readFailed(err)
				return
			}
			if !frame.NextMessageBuffered(s.br) {
				s.stdin.Flush() // what came before the dropped one
			}
			continue
		case session.Close:
			s.stdin.Flush()
			s.clientClose = errors.New("over --msg-rate")
			s.log.Info("client over --msg-rate: closing", "msg_rate", s.limits.MsgRate.String())
			s.fail(session.StatusRateLimited, s.limits.RateLimitReason())
			return
		}
		if typ == websocket.MessageBinary && !s.opts.Binary && s.opts.Framing != FramingLength {
			s.stdin.Flush()
			s.clientClose = errors.New("binary message in text mode")
			s.fail(websocket.StatusUnsupportedData, "binary messages are not accepted: this endpoint is in text mode")
			return
		}
		record := -1
		if s.opts.Framing == FramingLength {
			record = s.stdin.BeginRecord()
		}
		n, err := s.stdin.ReadMessage(s.inflated.Check(typ, r), s.opts.MaxFrameSize)
		s.bytesIn += n
		if err != nil {
			// Messages before this one were complete: they still go.
			if record >= 0 {
				s.stdin.DropRecord(record)
			}
			s.stdin.Flush()
			s.clientClose = err
			var v *frameguard.Violation
			switch {
			case errors.As(err, &v):
				s.failFor(v)
			case errors.Is(err, frame.ErrTooBig):
				s.fail(websocket.StatusMessageTooBig, session.CloseReason("message larger than --maxframesize=%d bytes", s.opts.MaxFrameSize))
			case errors.Is(err, frame.ErrNUL):
				s.fail(websocket.StatusInvalidFramePayloadData, "message contains a NUL byte, which ends messages here (--framing=nul)")
			}
			return
		}
		s.msgsIn++
		s.idle.Touch()
		switch {
		case record >= 0:
			t := byte(frame.RecordBinary)
			if typ == websocket.MessageText {
				t = frame.RecordText
			}
			s.stdin.EndRecord(record, t)
		case s.opts.Framing == FramingNUL:
			s.stdin.AppendByte(0)
		case !s.opts.Binary:
			s.stdin.AppendNewline()
		}
		if !frame.NextMessageBuffered(s.br) {
			s.stdin.Flush()
		}
	}
}

// readFailed ends the input after a failed read: the client went away, or
// broke the protocol (then it gets the frame guard's close code).
func (s *pipeSession) readFailed(err error) {
	s.stdin.Flush()
	if !s.closing.Load() {
		s.clientClose = err
	}
	var v *frameguard.Violation
	if errors.As(err, &v) {
		s.failFor(v)
	}
}

// fail ends a session the client broke: nothing more is read from it, the
// child's stdin is closed (the kill sequence begins), and what the child
// writes in answer to the messages it already has still reaches the
// client before the close with code. The close waits for the child's
// output to end, but no longer than the kill sequence's first wait.
func (s *pipeSession) fail(code websocket.StatusCode, reason string) {
	s.failure.CompareAndSwap(nil, &closeFrame{code, reason})
	s.proc.Stop()
	t := time.NewTimer(s.proc.StdinWait())
	defer t.Stop()
	select {
	case <-s.outputDone:
		// finish sends the close once stderr is drained too.
	case <-t.C:
		s.closeWith(code, reason)
	}
}

// idleOut ends a session idle for --idle-timeout: the kill sequence, then
// close 4408. It runs on the idle timer's goroutine.
func (s *pipeSession) idleOut() {
	s.log.Info("idle: no input and no output for --idle-timeout; ending the session", "idle_timeout", s.limits.IdleTimeout.String())
	s.failure.CompareAndSwap(nil, &closeFrame{session.StatusIdle, session.CloseReason("idle for %s", s.limits.IdleTimeout)})
	s.proc.Stop()
}

// failFor ends the session for a violation the gate reported: a client's
// protocol error, or its token's expiry. An expired session's program gets
// the whole kill sequence before the close, so the client learns of the
// expiry only once the program is gone: finish sends it after the reap.
func (s *pipeSession) failFor(v *frameguard.Violation) {
	if v.Code == session.StatusTokenExpired {
		s.failure.CompareAndSwap(nil, &closeFrame{v.Code, v.Reason})
		s.proc.Stop()
		return
	}
	s.fail(v.Code, v.Reason)
}

// closeWith starts the close handshake once, remembering the code sent.
func (s *pipeSession) closeWith(code websocket.StatusCode, reason string) {
	if s.sentCode.CompareAndSwap(0, int32(code)) {
		s.conn.Close(code, reason)
	}
}

// GoAway: the server is shutting down (session.Member); the session ends
// with 1001 once the child's output is delivered.
func (s *pipeSession) GoAway() {
	s.goingAway.Store(true)
	s.proc.Stop()
}

// ForceClose: shutdown ran out of time (session.Member).
func (s *pipeSession) ForceClose() {
	s.proc.Kill()
	s.conn.CloseNow()
}

// The session context is never cancelled while reading: an expired context
// would make coder/websocket close the connection.
var bg = context.Background()
