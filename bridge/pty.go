package bridge

import (
	"net/http"
	"strconv"

	"github.com/wsbridge/wsbridge/process"
)

// DefaultTerm is TERM for a child on a pseudo-terminal when Options.Term is
// empty: what xterm.js (the terminal page) emulates.
const DefaultTerm = "xterm-256color"

// Terminal sizes outside 1..maxTermSize cells are ignored: no real window
// is that large, and a huge size only costs the program memory.
const maxTermSize = 1000

// defaultSize is a terminal's size until the client says otherwise.
var defaultSize = process.Winsize{Cols: 80, Rows: 24}

// spawnConfig is how to start ep's program for request r: argv with the
// ?arg= values (--url-arg), the environment with TERM on a pseudo-terminal,
// the working directory, and for --pty or --terminal the terminal, sized by
// ?cols=&rows=. --pty has echo off, in line and binary mode alike, so what
// the client sends does not come back as output: it only makes the program
// see a terminal. The browser terminal keeps the usual echo, which a
// terminal emulator expects.
func (h *Handler) spawnConfig(r *http.Request, ep Endpoint, env []string) process.Config {
	cfg := process.Config{
		Path:  ep.Command.Path,
		Args:  h.argv(r, ep),
		Env:   env,
		Dir:   h.opts.Dir,
		Grace: h.closeGrace(),
	}
	if h.opts.PTY || h.opts.Terminal != nil {
		size := requestSize(r)
		cfg.Terminal = &size
		cfg.NoEcho = h.opts.Terminal == nil
		term := h.opts.Term
		if term == "" {
			term = DefaultTerm
		}
		cfg.Env = dedupeEnv(append(append([]string(nil), env...), "TERM="+term))
	}
	return cfg
}

// argv is the endpoint's argv, and with --url-arg the request's ?arg= values
// after it, in order. They go to the program as separate arguments, never
// through a shell, but they are the client's: one may well start with "-".
func (h *Handler) argv(r *http.Request, ep Endpoint) []string {
	args := ep.Command.Args
	if !h.opts.URLArgs {
		return args
	}
	extra := r.URL.Query()["arg"]
	if len(extra) == 0 {
		return args
	}
	return append(append(make([]string, 0, len(args)+len(extra)), args...), extra...)
}

// requestSize is the terminal size the client asks for in ?cols=&rows=, or
// 80x24 when either is missing or out of range.
func requestSize(r *http.Request) process.Winsize {
	q := r.URL.Query()
	cols, okc := parseCells(q.Get("cols"))
	rows, okr := parseCells(q.Get("rows"))
	if !okc || !okr {
		return defaultSize
	}
	return process.Winsize{Cols: cols, Rows: rows}
}

func parseCells(s string) (uint16, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || !validCells(n) {
		return 0, false
	}
	return uint16(n), true
}

func validCells(n int) bool { return n >= 1 && n <= maxTermSize }
