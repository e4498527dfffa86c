package bridge

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/wsbridge/wsbridge/bridge/internal/frame"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// defaultCGIPath is the PATH of a CGI script when --passenv does not pass
// the daemon's: scripts expect one, and it must not be the daemon's own.
const defaultCGIPath = "/usr/local/bin:/usr/bin:/bin"

// cgiInherited are the variables net/http/cgi, which ran the scripts
// before, copied from the daemon's environment on Linux; unless --passenv
// names them they are still set, empty, so a script sees what it saw then
// (an empty LD_LIBRARY_PATH is ignored by the dynamic loader).
var cgiInherited = []string{"LD_LIBRARY_PATH"}

// CGI returns a handler running the CGI scripts under dir (--cgidir) for
// plain HTTP requests, with the same environment as a session's child: the
// --passenv variables, the request's meta-variables, the headers that
// become variables for sessions (headerEnvName) and what middleware added
// (REMOTE_USER...). Each script counts against --maxforks while it runs,
// and Options.CGITimeout bounds its whole run. A request whose path names
// no executable under dir goes to next.
func (h *Handler) CGI(dir *ScriptDir, next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	fixed := make([]string, 0, 1+len(cgiInherited))
	passed := map[string]bool{}
	for _, kv := range h.parentEnv {
		k, _, _ := strings.Cut(kv, "=")
		passed[k] = true
	}
	if !passed["PATH"] {
		fixed = append(fixed, "PATH="+defaultCGIPath)
	}
	for _, k := range cgiInherited {
		if !passed[k] {
			fixed = append(fixed, k+"=")
		}
	}
	return &cgiHandler{h: h, dir: dir, next: next, fixed: fixed}
}

type cgiHandler struct {
	h     *Handler
	dir   *ScriptDir
	next  http.Handler
	fixed []string
}

func (c *cgiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep, err := c.dir.Lookup(r.URL.Path)
	if err != nil {
		c.next.ServeHTTP(w, r)
		return
	}
	h := c.h
	if err := h.checkOpen(); err != nil {
		h.refuse(w, r, h.log, err)
		return
	}
	if len(r.TransferEncoding) > 0 {
		// CGI gives a script its body's length in CONTENT_LENGTH.
		http.Error(w, "400 Bad Request: a CGI request body needs a Content-Length", http.StatusBadRequest)
		return
	}
	id := h.gate().NewID()
	lg := h.log.With("cgi", id)
	if !h.tryFork() {
		h.refuse(w, r, lg, h.maxForksRefusal())
		return
	}
	defer h.forks.Add(-1)
	if ref := h.admitFDs(); ref != nil {
		h.refuse(w, r, lg, ref)
		return
	}
	// The script runs and is reaped within this request.
	defer h.fds.Ended()
	defer h.fds.Started()

	env := append(h.environ(r, id, ep), c.fixed...)
	env = append(env, "SCRIPT_FILENAME="+ep.Command.Path)
	if r.ContentLength > 0 {
		env = append(env, "CONTENT_LENGTH="+strconv.FormatInt(r.ContentLength, 10))
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		env = append(env, "CONTENT_TYPE="+CleanHeaderValue(ct))
	}
	workDir := filepath.Dir(ep.Command.Path)
	if h.opts.Dir != "" {
		workDir = h.opts.Dir
	}
	lg.Log(r.Context(), session.LevelAccess, "cgi", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "script", ep.ScriptName)
	run := &cgiRun{h: h, w: w, r: r, log: lg, rc: http.NewResponseController(w)}
	run.serve(process.Config{
		Path:  ep.Command.Path,
		Args:  []string{ep.Command.Path},
		Env:   dedupeEnv(env),
		Dir:   workDir,
		Grace: h.closeGrace(),
	})
}

// lineLogger logs what a CGI script writes to stderr, a line at a time.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > frame.ChunkSize {
		l.emit(l.buf)
		l.buf = nil
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineLogger) emit(line []byte) {
	l.log.Log(context.Background(), session.LevelInfo, "stderr", "line", string(frame.AppendValidUTF8(nil, bytes.TrimSuffix(line, []byte("\r")))))
}
