package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/wsbridge/wsbridge/bridge/pipe"
	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/bridge/terminal"
	"github.com/wsbridge/wsbridge/static"
)

// defaultTitleFormat is --title-format's default.
const defaultTitleFormat = "{{.Command}} ({{.Hostname}})"

// TerminalFlags are the flags of pseudo-terminals and the browser terminal,
// ttyd's and gotty's options where they have one. They are embedded in cli.
type TerminalFlags struct {
	PTY          bool          `name:"pty" help:"Run the program on a pseudo-terminal instead of pipes, in line or binary mode: it sees a terminal, so it line-buffers its output (a Python print() loop answers at once, without -u). The terminal is 80x24, or ?cols=&rows= of the request, with echo off; stderr is merged into stdout. The terminal's line discipline applies to input: a line longer than 4095 bytes is cut, and control characters act as keys (^C interrupts, ^D ends input)."`
	Terminal     bool          `name:"terminal" help:"Serve a browser terminal: a plain GET on the endpoint gets the terminal page (xterm.js), and the WebSocket upgrade on the same URL is the session, speaking subprotocol wsbridge.tty.v1 with the program on a pseudo-terminal. Implies --pty. Read-only unless --writable. Without --origin or --sameorigin, only pages of this server's own origin may connect (cross-site Origins get 403); a request without an Origin header, which only programs send, is accepted."`
	Writable     bool          `name:"writable" help:"With --terminal, pass the clients' keyboard input to the program. Without it terminals are read-only and input is dropped."`
	Reconnect    time.Duration `name:"reconnect" placeholder:"DURATION" help:"With --terminal, keep a program whose client went away running for DURATION (such as 10m): the page reconnects with its session token and gets the screen back (a replay of the last 256 KiB of output) instead of a new program; after DURATION without a client it gets the kill sequence. 0, the default: stop it as soon as its client leaves."`
	Shared       bool          `name:"shared" help:"With --terminal, attach every client of an endpoint to one program: output goes to all of them, input comes from all of them (with --writable), and the terminal takes the smallest columns and rows among them. A client joining gets the screen replayed; the fastest client sets the pace of the output, and one that falls 1 MiB behind it is dropped with close code 1013 and reconnects to a replay, never slowing the others. The program starts with the first client, with that client's --url-arg and environment, and is stopped when the last leaves (after --reconnect's DURATION, if set)."`
	Once         bool          `name:"once" help:"Serve a single session, then exit: upgrades that would start a second program get 503, and once the first program has ended the daemon shuts down and exits 0. Clients may still join that session with --shared or resume it with --reconnect."`
	MaxClients   int           `name:"max-clients" placeholder:"N" help:"With --terminal or --broadcast, most clients attached at once, over all sessions or groups; beyond it upgrades get 503. 0, the default: unlimited. (Otherwise each client runs its own program: see --maxforks.)"`
	Cwd          string        `name:"cwd" placeholder:"DIR" help:"Working directory of the programs run, sessions and CGI scripts alike. Default: wsbridge's own."`
	Term         string        `name:"term" default:"xterm-256color" placeholder:"TERM" help:"TERM for programs on a pseudo-terminal (--pty, --terminal). Default: xterm-256color, what the terminal page emulates."`
	TitleFormat  string        `name:"title-format" default:"{{.Command}} ({{.Hostname}})" placeholder:"TEMPLATE" help:"With --terminal, the page title, a Go text/template with .Command (the command line), .Hostname (the server's name) and .RemoteAddr (the client's address). The program may still set a title of its own (OSC 0 or 2). Default: {{.Command}} ({{.Hostname}})."`
	URLArg       bool          `name:"url-arg" help:"Append the request's ?arg= values to the program's arguments, in order: /?arg=-l&arg=/tmp runs COMMAND ARGS... -l /tmp. Off by default: the client chooses them and one may start with -, so use it only with a program that treats its arguments as untrusted."`
	ClientOption []string      `name:"client-option" sep:"none" placeholder:"KEY=VALUE" help:"With --terminal, set an option of the page's terminal; repeatable: fontSize=16, fontFamily=monospace, theme={\"background\":\"#1e1e1e\"} (an xterm.js theme as JSON), cursorBlink=true, scrollback=10000 (lines), renderer=dom (default webgl). The page ignores unknown keys and bad values."`
}

// validateTerminal checks the flags of this file's concern. --terminal
// turns --pty on.
func (c *cli) validateTerminal() error {
	if c.Terminal {
		c.PTY = true
	}
	needsTerminal := []struct {
		flag string
		set  bool
	}{
		{"--writable", c.Writable},
		{"--reconnect", c.Reconnect != 0},
		{"--shared", c.Shared},
		{"--max-clients", c.MaxClients != 0 && !c.Broadcast},
		{"--title-format", c.TitleFormat != defaultTitleFormat},
		{"--client-option", len(c.ClientOption) > 0},
	}
	for _, n := range needsTerminal {
		if n.set && !c.Terminal {
			return fmt.Errorf("%s needs --terminal", n.flag)
		}
	}
	switch {
	case c.Terminal && c.Binary:
		return errors.New("--terminal cannot be combined with --binary: terminal endpoints speak wsbridge.tty.v1, terminal bytes in binary frames")
	case c.Terminal && c.PassStderr:
		return errors.New("--terminal cannot be combined with --passstderr: a terminal merges stderr into stdout")
	case c.PTY && c.PassStderr:
		return errors.New("--pty cannot be combined with --passstderr: a terminal merges stderr into stdout")
	case c.Terminal && c.DevConsole:
		return errors.New("--terminal cannot be combined with --devconsole: both answer a plain GET on the endpoint")
	case c.Terminal && c.StaticDir != "":
		return errors.New("--terminal cannot be combined with --staticdir: the terminal page answers a plain GET on the endpoint")
	case c.Terminal && len(c.Subprotocol) > 0:
		return errors.New("--subprotocol cannot be combined with --terminal: terminal endpoints speak " + terminal.TTYSubprotocol)
	case c.Reconnect < 0:
		return fmt.Errorf("--reconnect=%s: must be 0 (off) or more", c.Reconnect)
	case c.MaxClients < 0:
		return fmt.Errorf("--max-clients=%d: must be 0 (unlimited) or more", c.MaxClients)
	case c.Term != terminal.DefaultTerm && !c.PTY:
		return errors.New("--term needs --pty or --terminal")
	case c.Term == "" || strings.ContainsFunc(c.Term, func(r rune) bool { return r <= ' ' || r == '=' || r >= 0x7f }):
		return fmt.Errorf("--term=%q: not a terminal type name", c.Term)
	}
	if c.Cwd != "" {
		info, err := os.Stat(c.Cwd)
		if err != nil {
			return fmt.Errorf("--cwd=%q: %w", c.Cwd, err)
		}
		if !info.IsDir() {
			return fmt.Errorf("--cwd=%q: not a directory", c.Cwd)
		}
	}
	if _, err := c.titleTemplate(); err != nil {
		return err
	}
	for _, opt := range c.ClientOption {
		if k, _, ok := strings.Cut(opt, "="); !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("--client-option=%q: want KEY=VALUE", opt)
		}
	}
	return nil
}

// titleTemplate parses --title-format and tries it once, so a mistake in
// it is a startup error rather than a title missing later.
func (c *cli) titleTemplate() (*template.Template, error) {
	tmpl, err := template.New("title").Option("missingkey=error").Parse(c.TitleFormat)
	if err == nil {
		err = tmpl.Execute(io.Discard, terminal.TitleData{})
	}
	if err != nil {
		return nil, fmt.Errorf("--title-format=%q: %w", c.TitleFormat, err)
	}
	return tmpl, nil
}

// cwd is --cwd made absolute, so it means the same whatever a child does.
func (c *cli) cwd() string {
	if c.Cwd == "" {
		return ""
	}
	if abs, err := filepath.Abs(c.Cwd); err == nil {
		return abs
	}
	return c.Cwd
}

// sessionKind is the kind of session the endpoints run: browser terminals
// with --terminal, shared programs with --broadcast, else pipes.
func (c *cli) sessionKind(m *metrics) session.Kind {
	if c.Broadcast {
		return c.broadcastKind(m)
	}
	if !c.Terminal {
		return pipe.New(pipe.Options{
			Binary:       c.Binary,
			PassStderr:   c.PassStderr,
			MaxFrameSize: c.MaxFrameSize,
			PTY:          c.PTY,
			Term:         c.Term,
		})
	}
	tmpl, _ := c.titleTemplate() // checked by validate
	return terminal.New(terminal.Options{
		Writable:     c.Writable,
		Reconnect:    c.Reconnect,
		Shared:       c.Shared,
		MaxClients:   c.MaxClients,
		Title:        tmpl,
		MaxFrameSize: c.MaxFrameSize,
		Term:         c.Term,
	})
}

// terminalPage is the page a plain GET on a terminal endpoint gets. Its
// title until the session's own arrives is --title-format without a client.
func (c *cli) terminalPage() http.Handler {
	opts := static.TerminalPageOptions{ClientOptions: map[string]string{}}
	for _, opt := range c.ClientOption {
		k, v, _ := strings.Cut(opt, "=")
		opts.ClientOptions[strings.TrimSpace(k)] = v
	}
	if tmpl, err := c.titleTemplate(); err == nil {
		host, _ := os.Hostname()
		var b strings.Builder
		cmd := strings.Join(c.Command, " ")
		if cmd == "" {
			cmd = "wsbridge" // --dir: the script is known per request
		}
		if tmpl.Execute(&b, terminal.TitleData{Command: cmd, Hostname: host}) == nil {
			opts.Title = b.String()
		}
	}
	return static.Terminal(opts)
}
