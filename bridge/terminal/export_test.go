package terminal

// Exports of internals for the external tests (package terminal_test).

// Scrollback is the replay ring of terminal sessions.
type Scrollback = scrollback

func NewScrollback(size int) *Scrollback { return newScrollback(size) }

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
