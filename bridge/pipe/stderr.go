package pipe

import (
	"sync"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/internal/readiness"
)

// stderrReader is the session's side of the child's stderr. Most children
// write to stderr seldom or never, so no goroutine waits on it: the shared
// readiness watcher (readiness.OnReadable) starts one when there is something
// to read, which reads until nothing is left and registers again. Each
// registration and each such goroutine holds one count of the session's
// WaitGroup, handed from one to the next.
type stderrReader struct {
	sr      *frame.StreamReader
	mu      sync.Mutex
	stopped bool // the session is ending: register no more
}

// startStderr begins reading stderr; stderrDone is closed at its end.
func (s *pipeSession) startStderr() {
	if s.proc.Stderr == nil {
		close(s.stderrDone)
		return
	}
	maxMsg := 0
	if s.opts.PassStderr {
		maxMsg = int(s.opts.MaxFrameSize)
	}
	sr, err := frame.NewStreamReader(s.proc.Stderr, false, maxMsg)
	if err != nil {
		close(s.stderrDone)
		return
	}
	s.stderr.sr = sr
	s.wg.Add(1)
	s.watchStderr()
}

// watchStderr registers for the next stderr output, taking over the
// caller's WaitGroup count.
func (s *pipeSession) watchStderr() {
	s.stderr.mu.Lock()
	defer s.stderr.mu.Unlock()
	if s.stderr.stopped {
		s.wg.Done()
		return
	}
	if err := readiness.OnReadable(s.proc.Stderr, s.drainStderr); err != nil {
		// No epoll set to be had (out of descriptors): wait on a
		// goroutine of our own, as a session always did.
		go s.pumpStderr()
	}
}

// stopStderr ends the reading before the streams are closed; a registration
// still waiting gives back its count here.
func (s *pipeSession) stopStderr() {
	s.stderr.mu.Lock()
	defer s.stderr.mu.Unlock()
	s.stderr.stopped = true
	if readiness.CancelReadable(s.proc.Stderr) {
		s.wg.Done()
	}
}

// drainStderr reads what the child has written to stderr, then waits for
// more through the watcher, or ends with the stream.
func (s *pipeSession) drainStderr() {
	for {
		got, err := s.stderr.sr.FillNow()
		s.emitStderr()
		s.errs.Idle()
		if err != nil {
			close(s.stderrDone)
			s.wg.Done()
			return
		}
		if !got {
			s.watchStderr()
			return
		}
	}
}

// pumpStderr reads stderr on a goroutine of its own until it ends.
func (s *pipeSession) pumpStderr() {
	defer s.wg.Done()
	defer close(s.stderrDone)
	for {
		err := s.stderr.sr.Fill()
		s.emitStderr()
		s.errs.Idle()
		if err != nil {
			return
		}
	}
}

// emitStderr logs each stderr line read and, with --passstderr, also sends
// it to the client wrapped in JSON: as websocketd does, the operator's log
// keeps a program's complaints whoever else sees them.
func (s *pipeSession) emitStderr() {
	for {
		piece, end, ok := s.stderr.sr.Next()
		if !ok {
			return
		}
		s.log.Info("stderr", "line", string(frame.AppendValidUTF8(nil, piece)), "continued", !end)
		if s.opts.PassStderr {
			s.errs.Emit(piece, end)
		} else {
			s.errs.Bytes += int64(len(piece))
		}
	}
}

// release gives back the reader's buffer once nothing reads any more.
func (r *stderrReader) release() {
	if r.sr != nil {
		r.sr.Release()
	}
}
