package session

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/wsbridge/wsbridge/process"
)

// DefaultTerm is TERM for a program on a pseudo-terminal when none is
// configured (--term): what xterm.js (the terminal page) emulates.
const DefaultTerm = "xterm-256color"

// Terminal sizes outside 1..maxTermSize cells are ignored: no real window
// is that large, and a huge size only costs the program memory.
const maxTermSize = 1000

// defaultSize is a terminal's size until the client says otherwise.
var defaultSize = process.Winsize{Cols: 80, Rows: 24}

// OnTerminal makes cfg run its program on a pseudo-terminal of the given
// size, with TERM=term (DefaultTerm if empty), echoing input or not.
func OnTerminal(cfg *process.Config, size process.Winsize, term string, echo bool) {
	cfg.Terminal = &size
	cfg.NoEcho = !echo
	if term == "" {
		term = DefaultTerm
	}
	cfg.Env = setEnv(cfg.Env, "TERM", term)
}

// setEnv returns a copy of env with k set to v, in place of an earlier
// value so that execve never sees the name twice.
func setEnv(env []string, k, v string) []string {
	out := append(make([]string, 0, len(env)+1), env...)
	for i, kv := range out {
		if strings.HasPrefix(kv, k+"=") {
			out[i] = k + "=" + v
			return out
		}
	}
	return append(out, k+"="+v)
}

// RequestSize is the terminal size the client asks for in ?cols=&rows=, or
// 80x24 when either is missing or out of range.
func RequestSize(r *http.Request) process.Winsize {
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
	if err != nil || !ValidCells(n) {
		return 0, false
	}
	return uint16(n), true
}

// ValidCells reports whether n columns or rows is a size to honour.
func ValidCells(n int) bool { return n >= 1 && n <= maxTermSize }
