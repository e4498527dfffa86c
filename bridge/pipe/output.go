package pipe

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/internal/readiness"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// outputIdle is how long stdout may stay quiet before the session stops
// keeping a goroutine (and its stack) waiting on it: the shared watcher
// (readiness.OnReadable) starts one again when the child writes. Thousands of
// idle sessions then hold no output goroutine; a busy one never parks that
// long.
const outputIdle = 250 * time.Millisecond

// errIdle: stdout has been quiet for outputIdle.
var errIdle = errors.New("stdout idle")

// run starts the session's goroutines and carries stdout; the session ends
// (finish) on whichever goroutine sees stdout end.
func (s *pipeSession) run() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stderrDone = make(chan struct{})
	s.outputDone = make(chan struct{})
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
	sr, err := frame.NewSplitReader(s.proc.Stdout, s.opts.split(), int(s.opts.MaxFrameSize))
	if err != nil {
		s.finish(err)
		return
	}
	s.stdout = sr
	s.output()
}

// output carries stdout until it ends, or until it has been quiet for
// outputIdle: then the watcher calls output again, on a new goroutine, when
// there is more.
func (s *pipeSession) output() {
	err := s.pumpOutput()
	if errors.Is(err, errIdle) {
		if readiness.OnReadable(s.proc.Stdout, s.output) == nil {
			return
		}
		// No epoll set to be had: wait here, as long as it takes (a
		// quiet stdout is no end).
		for errors.Is(err, errIdle) {
			err = s.pumpOutput()
		}
	}
	s.finish(err)
}

// pumpOutput carries stdout to the client until the stream ends (nil) or
// stays quiet for outputIdle (errIdle; never while another descriptor is
// wanting). Each burst read from the child is sent corked: all its messages
// leave in one write.
func (s *pipeSession) pumpOutput() error {
	for {
		s.out.Idle()
		if err := s.cork.Uncork(); err != nil {
			s.out.Dead = true
		}
		// Setting the deadline costs a timer update, not a syscall; a read
		// that finds output waiting never arms it.
		s.proc.Stdout.SetReadDeadline(time.Now().Add(outputIdle))
		ferr := s.stdout.Fill()
		if errors.Is(ferr, os.ErrDeadlineExceeded) {
			return errIdle
		}
		s.idle.Touch()
		s.cork.Cork()
		for {
			piece, end, ok := s.stdout.Next()
			if !ok {
				break
			}
			if s.opts.Framing == FramingLength {
				s.out.Type = recordMessageType(s.stdout.RecordType())
			}
			s.out.Emit(piece, end)
		}
		if rerr := s.stdout.Err(); rerr != nil {
			// What came before the bad record is out; the session ends
			// with 1011, the program's error.
			s.cork.Uncork()
			s.failure.CompareAndSwap(nil, &closeFrame{websocket.StatusInternalError, session.CloseReason("the program wrote a %v", rerr)})
			return rerr
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

// split is how stdout is cut into messages.
func (o *Options) split() frame.Split {
	switch {
	case o.Framing == FramingNUL:
		return frame.SplitNUL
	case o.Framing == FramingLength:
		return frame.SplitRecords
	case o.Binary:
		return frame.SplitRaw
	}
	return frame.SplitLines
}

// recordMessageType is the message type of a record type.
func recordMessageType(t byte) websocket.MessageType {
	if t == frame.RecordText {
		return websocket.MessageText
	}
	return websocket.MessageBinary
}

// finish ends the session once stdout has ended (err: how, if not by EOF).
func (s *pipeSession) finish(err error) {
	close(s.outputDone) // a client's failure (fail) may now close
	var rerr *frame.RecordError
	switch {
	case errors.As(err, &rerr):
		s.log.Error("malformed record from the program", "what", rerr.What, "offset", rerr.Offset)
	case err != nil:
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
	s.idle.Stop()
	s.closing.Store(true)
	if f := s.failure.Load(); f != nil {
		s.closeWith(f.code, f.reason)
	} else {
		s.closeWith(session.EndOfSession(st, s.goingAway.Load()))
	}
	s.stopStderr()
	s.proc.Release()
	s.cancel()
	s.wg.Wait()
	s.out.Idle()
	if s.stdout != nil {
		s.stdout.Release()
	}
	s.stderr.release()
	s.ended(st)
}
