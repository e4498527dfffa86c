package session

import (
	"net/http"
	"os"
	"os/user"
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

// LoginEnv gives a browser terminal's program what a login shell expects
// of the account wsbridge runs as: HOME, USER, LOGNAME and SHELL from the
// password database (SHELL from wsbridge's own $SHELL, then /bin/sh, when
// the database has none), wsbridge's LANG, LANGUAGE and LC_* variables, and
// COLORTERM=truecolor, as xterm.js draws 24-bit colour. A variable that
// --passenv already passed keeps its value. Without --cwd the program
// starts in HOME. Without it, a shell greets the user with errors about
// files under "/" (its profile looks for $HOME/...).
func LoginEnv(cfg *process.Config) {
	have := func(k string) bool {
		for _, kv := range cfg.Env {
			if strings.HasPrefix(kv, k+"=") {
				return true
			}
		}
		return false
	}
	add := func(k, v string) {
		if v != "" && !have(k) {
			cfg.Env = append(cfg.Env, k+"="+v)
		}
	}
	home, name, shell := account()
	add("HOME", home)
	add("USER", name)
	add("LOGNAME", name)
	add("SHELL", shell)
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "LANG" || k == "LANGUAGE" || strings.HasPrefix(k, "LC_") {
			add(k, v)
		}
	}
	add("COLORTERM", "truecolor")
	if cfg.Dir == "" && home != "" {
		if st, err := os.Stat(home); err == nil && st.IsDir() {
			cfg.Dir = home
		}
	}
}

// account is the home directory, name and login shell of the user wsbridge
// runs as, from the password database, else from its own environment.
func account() (home, name, shell string) {
	home, name, shell = os.Getenv("HOME"), os.Getenv("USER"), os.Getenv("SHELL")
	if u, err := user.Current(); err == nil {
		home, name = u.HomeDir, u.Username
	}
	if s := loginShell(name); s != "" {
		shell = s
	}
	if shell == "" {
		shell = "/bin/sh"
	}
	return home, name, shell
}

// loginShell is name's shell in /etc/passwd (os/user does not read it); ""
// where there is no such file (Windows) or no such line. Accounts from
// elsewhere (LDAP through NSS) fall back to $SHELL.
func loginShell(name string) string {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil || name == "" {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == name {
			return strings.TrimSpace(f[6])
		}
	}
	return ""
}
