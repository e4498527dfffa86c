package terminal

import (
	"github.com/charmbracelet/x/vt"

	"github.com/wsbridge/wsbridge/process"
)

// Exports of internals for the external tests (package terminal_test).

// Screen is the screen state of terminal sessions.
type Screen = screen

// PendingLimit bounds the output a Screen holds unparsed.
const PendingLimit = pendingLimit

func NewScreen(cols, rows, lines int) *Screen {
	return newScreen(process.Winsize{Cols: uint16(cols), Rows: uint16(rows)}, lines)
}

func (s *screen) Write(b []byte)    { s.write(b) }
func (s *screen) Feed(max int) bool { return s.feed(max) }
func (s *screen) Replay() []byte    { return s.replay() }
func (s *screen) Resize(cols, rows int) {
	s.resize(process.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}
func (s *screen) Emulator() *vt.Emulator   { s.revive(); return s.emu }
func (s *screen) Modes() any               { return s.track.modes }
func (s *screen) ScrollRegion() (int, int) { return s.track.top, s.track.bottom }
func (s *screen) Title() string            { return s.title }
func (s *screen) History() [][]byte        { return s.history }
func (s *screen) Pending() int             { return len(s.pending) - s.head }

// ControlMsg is a parsed client control message.
type ControlMsg = controlMsg

var (
	ParseControl     = parseControl
	ErrBadControl    = errBadControl
	ErrControlTooBig = errControlTooBig
	ReadControl      = readControl
	NewToken         = newToken
)

// FakeSession registers a session without a process, as startTTY would.
func (t *Kind) FakeSession(token, path, key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.register(&ttyProc{token: token, path: path, key: key})
}

// Find looks a client's session up as serveTerminal does.
func (t *Kind) Find(token, path, key string) (token2 string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.find(token, path, key)
	if p == nil {
		return "", false
	}
	return p.token, true
}

// Forget unregisters the session of token.
func (t *Kind) Forget(token string) {
	t.mu.Lock()
	p := t.byToken[token]
	t.mu.Unlock()
	if p != nil {
		t.unregister(p)
	}
}

// SharedQueueLimit is how far a shared client may fall behind.
const SharedQueueLimit = sharedQueueLimit
