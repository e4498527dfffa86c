package bridge

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

	"github.com/wsbridge/wsbridge/process"
)

// stderrDrain bounds how long a finished session waits for the last stderr
// of a process group whose members have all exited; only a process that
// escaped the group can hold the pipe open that long.
const stderrDrain = time.Second

// session pumps one WebSocket connection to one child and back. It runs three
// goroutines, all owned and waited for by run: run itself (the HTTP handler's
// goroutine) carries stdout to the client, one reads the client into stdin,
// one reads stderr; a fourth sends pings when --pingms is set.
type session struct {
	h    *Handler
	id   string
	log  *slog.Logger
	conn *websocket.Conn
	br   *bufio.Reader
	cork *corkWriter
	proc *process.Process

	ctx    context.Context // cancelled when the session ends; only for pings
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stdin      stdinWriter
	out, errs  emitter
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

func (s *session) run() process.Status {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stderrDone = make(chan struct{})
	s.wg.Add(2)
	go s.pumpInput()
	go s.pumpStderr()
	if interval := s.h.pingInterval(); interval > 0 {
		s.wg.Add(1)
		go s.keepalive(interval)
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
	s.closeWith(endOfSession(st, s.goingAway.Load()))
	s.proc.Release()
	s.cancel()
	s.wg.Wait()
	s.out.idle()
	return st
}

// pumpOutput carries stdout to the client until the stream ends. Each burst
// read from the child is sent corked: all its messages leave in one write.
func (s *session) pumpOutput() error {
	sr, err := newStreamReader(s.proc.Stdout, s.h.opts.Binary, int(s.h.opts.MaxFrameSize))
	if err != nil {
		return err
	}
	defer sr.release()
	for {
		s.out.idle()
		if err := s.cork.Uncork(); err != nil {
			s.out.dead = true
		}
		ferr := sr.fill()
		s.cork.Cork()
		for {
			piece, end, ok := sr.next()
			if !ok {
				break
			}
			s.out.emit(piece, end)
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
func (s *session) pumpInput() {
	defer s.wg.Done()
	defer s.proc.Stop()
	var check *utf8Check
	if !s.h.opts.Binary {
		check = new(utf8Check)
	}
	for {
		typ, r, err := s.conn.Reader(bg)
		if err != nil {
			s.stdin.flush()
			if !s.closing.Load() {
				s.clientClose = err
			}
			return
		}
		if typ == websocket.MessageBinary && !s.h.opts.Binary {
			s.stdin.flush()
			s.clientClose = errors.New("binary message in text mode")
			s.closeWith(websocket.StatusUnsupportedData, "binary messages are not accepted: this endpoint is in text mode")
			return
		}
		n, err := s.stdin.readMessage(r, check, s.h.opts.MaxFrameSize)
		s.bytesIn += n
		if err != nil {
			// Messages before this one were complete: they still go.
			s.stdin.flush()
			s.clientClose = err
			switch {
			case errors.Is(err, errInvalidUTF8):
				s.closeWith(websocket.StatusInvalidFramePayloadData, "text message is not valid UTF-8")
			case errors.Is(err, errTooBig):
				s.closeWith(websocket.StatusMessageTooBig, closeReason("message larger than --maxframesize=%d bytes", s.h.opts.MaxFrameSize))
			}
			return
		}
		s.msgsIn++
		if !s.h.opts.Binary {
			s.stdin.appendNewline()
		}
		if !nextMessageBuffered(s.br) {
			s.stdin.flush()
		}
	}
}

// pumpStderr logs each stderr line, or with --passstderr sends it to the
// client wrapped in JSON.
func (s *session) pumpStderr() {
	defer s.wg.Done()
	defer close(s.stderrDone)
	if s.proc.Stderr == nil {
		return
	}
	maxMsg := 0
	if s.h.opts.PassStderr {
		maxMsg = int(s.h.opts.MaxFrameSize)
	}
	sr, err := newStreamReader(s.proc.Stderr, false, maxMsg)
	if err != nil {
		return
	}
	defer sr.release()
	for {
		s.errs.idle()
		ferr := sr.fill()
		for {
			piece, end, ok := sr.next()
			if !ok {
				break
			}
			if s.h.opts.PassStderr {
				s.errs.emit(piece, end)
			} else {
				s.errs.bytes += int64(len(piece))
				s.log.Info("stderr", "line", string(appendValidUTF8(nil, piece)), "continued", !end)
			}
		}
		if ferr != nil {
			s.errs.idle()
			return
		}
	}
}

// keepalive pings the client every interval and ends the session when no
// pong comes back within two intervals. While stdin is blocked on a child that
// is not reading, pongs cannot be read either, so that time is not held
// against the client.
func (s *session) keepalive(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if s.stdin.blocked.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, 2*interval)
		err := s.conn.Ping(ctx)
		cancel()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Log(context.Background(), LevelAccess, "ping timeout", "session", s.id)
				s.conn.CloseNow()
			}
			return
		}
	}
}

// closeWith starts the close handshake, remembering the first code sent.
func (s *session) closeWith(code websocket.StatusCode, reason string) {
	s.sentCode.CompareAndSwap(0, int32(code))
	s.conn.Close(code, reason)
}
