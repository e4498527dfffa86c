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
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// stderrDrain bounds how long a finished session waits for the last stderr
// of a process group whose members have all exited; only a process that
// escaped the group can hold the pipe open that long.
const stderrDrain = time.Second

// pipeSession pumps one WebSocket connection to one child and back. Its
// goroutines are all owned and waited for by run: run itself (the session's
// own goroutine, which Serve starts) carries stdout to the client, one reads
// the client into stdin, one sends pings when --pingms is set, and one reads
// stderr only while the child is writing to it (see stderr.go).
type pipeSession struct {
	opts *Options
	log  *slog.Logger
	conn *websocket.Conn
	br   *bufio.Reader
	cork *frame.CorkWriter
	proc *process.Process
	ping time.Duration // --pingms when the session started

	ctx    context.Context // cancelled when the session ends; only for pings
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stdin      frame.StdinWriter
	out, errs  frame.Emitter
	stderr     stderrReader
	stderrDone chan struct{}

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
}

func (s *pipeSession) run() process.Status {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stderrDone = make(chan struct{})
	s.wg.Add(1)
	go s.pumpInput()
	s.startStderr()
	if s.ping > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			frame.Keepalive(s.ctx, s.conn, s.ping, s.stdin.Blocked, s.log, session.LevelAccess)
		}()
	}

	err := s.pumpOutput()
	if err != nil {
		s.log.Error("read stdout", "err", err)
	}
	// The child closed its stdout: whether it exited or not, the session is
	// over, and the group gets the kill sequence if anything is left.
	s.proc.Stop()
	<-s.proc.Done()
	st := s.proc.Status()

	// Everything the child wrote to stderr before it ended goes out before the
	// close frame.
	select {
	case <-s.stderrDone:
	case <-time.After(stderrDrain):
	}
	s.closing.Store(true)
	s.closeWith(session.EndOfSession(st, s.goingAway.Load()))
	s.stopStderr()
	s.proc.Release()
	s.cancel()
	s.wg.Wait()
	s.out.Idle()
	s.stderr.release()
	return st
}

// pumpOutput carries stdout to the client until the stream ends. Each burst
// read from the child is sent corked: all its messages leave in one write.
func (s *pipeSession) pumpOutput() error {
	sr, err := frame.NewStreamReader(s.proc.Stdout, s.opts.Binary, int(s.opts.MaxFrameSize))
	if err != nil {
		return err
	}
	defer sr.Release()
	for {
		s.out.Idle()
		if err := s.cork.Uncork(); err != nil {
			s.out.Dead = true
		}
		ferr := sr.Fill()
		s.cork.Cork()
		for {
			piece, end, ok := sr.Next()
			if !ok {
				break
			}
			s.out.Emit(piece, end)
		}
		if ferr != nil {
			s.cork.Uncork()
			if errors.Is(ferr, io.EOF) {
				return nil
			}
			return ferr
		}
	}
}

// pumpInput carries client messages to stdin. When the client side ends, for
// whatever reason, so does the child: the kill sequence starts.
func (s *pipeSession) pumpInput() {
	defer s.wg.Done()
	defer s.proc.Stop()
	var check *frame.UTF8Check
	if !s.opts.Binary {
		check = new(frame.UTF8Check)
	}
	for {
		typ, r, err := s.conn.Reader(bg)
		if err != nil {
			s.stdin.Flush()
			if !s.closing.Load() {
				s.clientClose = err
			}
			return
		}
		if typ == websocket.MessageBinary && !s.opts.Binary {
			s.stdin.Flush()
			s.clientClose = errors.New("binary message in text mode")
			s.closeWith(websocket.StatusUnsupportedData, "binary messages are not accepted: this endpoint is in text mode")
			return
		}
		n, err := s.stdin.ReadMessage(r, check, s.opts.MaxFrameSize)
		s.bytesIn += n
		if err != nil {
			// Messages before this one were complete: they still go.
			s.stdin.Flush()
			s.clientClose = err
			switch {
			case errors.Is(err, frame.ErrInvalidUTF8):
				s.closeWith(websocket.StatusInvalidFramePayloadData, "text message is not valid UTF-8")
			case errors.Is(err, frame.ErrTooBig):
				s.closeWith(websocket.StatusMessageTooBig, session.CloseReason("message larger than --maxframesize=%d bytes", s.opts.MaxFrameSize))
			}
			return
		}
		s.msgsIn++
		if !s.opts.Binary {
			s.stdin.AppendNewline()
		}
		if !frame.NextMessageBuffered(s.br) {
			s.stdin.Flush()
		}
	}
}

// closeWith starts the close handshake, remembering the first code sent.
func (s *pipeSession) closeWith(code websocket.StatusCode, reason string) {
	s.sentCode.CompareAndSwap(0, int32(code))
	s.conn.Close(code, reason)
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
