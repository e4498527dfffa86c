// Command wsbridge turns any program that reads stdin and writes stdout into
// a WebSocket server: each connection runs the program, and lines (or bytes)
// flow between its standard streams and WebSocket messages.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/bridge/server"
	"github.com/wsbridge/wsbridge/man"
)

// version and commit are set by release builds (.ci/release) with
// -ldflags "-X main.version=0.2.0 -X main.commit=<git revision>"; other
// builds take them from the build info (flags.go: readBuild).
var version, commit string

// build is what --version, the man page, SERVER_SOFTWARE and the metrics
// report.
var build = readBuild(version, commit, debug.ReadBuildInfo)

// Exit statuses, websocketd's.
const (
	exitOK           = 0
	exitBadConfig    = 1
	exitBadFlags     = 2
	exitCannotListen = 3
)

type cli struct {
	Port          int              `help:"Port to listen on. Default: 80 (443 with --ssl)." placeholder:"PORT"`
	Address       []string         `help:"Interface to listen on; repeat for several. Default: all interfaces." placeholder:"ADDR"`
	Binary        bool             `help:"Pass raw bytes both ways: each client message is written to stdin as is, each read from stdout becomes one binary message."`
	PassStderr    bool             `name:"passstderr" help:"Send stdout and stderr lines to the client as {\"stream\":\"stdout\"|\"stderr\",\"data\":\"...\"} text messages; stderr is logged too."`
	MaxFrameSize  int64            `name:"maxframesize" default:"1048576" help:"Largest client message in bytes (bigger ones close with 1009), and the size output lines are cut at. 0: unlimited. Default: ${default}." placeholder:"BYTES"`
	Framing       string           `name:"framing" default:"line" enum:"line,nul,length" placeholder:"FRAMING" help:"How messages are delimited on the program's stdin and stdout: line (a text message per line, or with --binary each read one binary message), nul (each message ends with a NUL byte both ways; a client message holding one closes with 1007) or length (each message both ways is a record: a 5-byte header, type 1 text or 2 binary and the length as 4 bytes big-endian, then the payload; messages stay whole and typed, empty ones too, --maxframesize bounds both ways, and a malformed record from the program closes with 1011). Not with --terminal, --broadcast, --pty or --passstderr. Default: ${default}."`
	Compress      compressMode     `name:"compress" help:"Compress messages with permessage-deflate (RFC 7692) for clients that offer it: --compress or --compress=no-context-takeover compresses each message on its own (no memory kept per connection), --compress=context-takeover with the previous messages as dictionary (better ratios, about 1 MB more per connection while output flows). Write the mode with =. Default: off."`
	MaxForks      int              `name:"maxforks" default:"1024" help:"Most children running at once; beyond it upgrades get HTTP 429. 0: unlimited. Default: ${default}." placeholder:"N"`
	CloseMs       int              `name:"closems" help:"Extra milliseconds added to each wait of the kill sequence (stdin close, SIGINT, SIGTERM, SIGKILL)." placeholder:"MS"`
	PingMs        int              `name:"pingms" help:"Ping the client every MS milliseconds; no pong within twice that ends the session. 0: no pings." placeholder:"MS"`
	PassEnv       string           `name:"passenv" default:"PATH,LD_LIBRARY_PATH" help:"Comma-separated variables of wsbridge's own environment the child inherits. Default: ${default}." placeholder:"VARS"`
	ReverseLookup bool             `name:"reverselookup" help:"Resolve the client's address to a name for REMOTE_HOST."`
	LogLevel      string           `name:"loglevel" default:"access" enum:"debug,trace,access,info,error,fatal" help:"Least severe messages logged: debug, trace, access, info, error or fatal."`
	LogFormat     string           `name:"logformat" default:"text" enum:"text,json" help:"Log as text or as one JSON object per line."`
	Version       kong.VersionFlag `env:"-" help:"Print the version, the commit and the Go version, and exit."`
	HelpMan       bool             `name:"help-man" hidden:"" help:"Print the man page (roff) and exit."`
	Endpoint      []string         `name:"endpoint" sep:"none" placeholder:"PATH=COMMAND" help:"Also serve COMMAND at PATH, with the global session flags; repeatable. PATH is exact (/echo) or, ending in /, a prefix (/term/); the longest match wins, COMMAND or --dir being the catch-all /, and an upgrade on a path no endpoint matches gets 404. COMMAND is split into arguments as a shell would (quotes, backslashes) but runs without one. The config file's [[endpoint]] tables also set session flags per endpoint; SIGHUP reloads them. See man/endpoints.md."`
	HTTPFlags
	TerminalFlags
	BroadcastFlags
	ServiceFlags

	Command []string `arg:"" optional:"" passthrough:"partial" help:"The program each connection runs, with its arguments. Flags after it belong to it." placeholder:"COMMAND [ARGS...]"`

	// fileEndpoints are the config file's [[endpoint]] tables; serves
	// says what the endpoints serve, for the checks of the global flags.
	fileEndpoints []configEndpoint
	serves        endpointKinds
}

const description = `Turn any program that reads stdin and writes stdout into a WebSocket server.

Each WebSocket connection runs COMMAND in its own process group. Every text
message from the client becomes a line on the program's stdin; every line the
program writes to stdout becomes a text message. When the program exits the
connection closes with code 1000 (exit status 0), 4000+N (exit status N) or
1011 (killed by a signal).`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	src := new(configSource)
	opts := parserOptions(stdout, stderr, src)
	c, parser, err := parseCLI(args, opts, src)
	if err != nil {
		var exit exitRequest
		var bad *parserError
		switch {
		case errors.As(err, &exit):
			return int(exit)
		case errors.As(err, &bad):
			fmt.Fprintf(stderr, "wsbridge: %v\n", err)
			return exitBadConfig
		}
		if code, ok := configFailure(err, stderr); ok {
			return code
		}
		fmt.Fprintf(stderr, "wsbridge: %v\nRun 'wsbridge --help' for usage.\n", err)
		return exitBadFlags
	}
	if c.HelpMan {
		if err := man.Write(stdout, parser, build.version); err != nil {
			fmt.Fprintf(stderr, "wsbridge: %v\n", err)
			return exitBadConfig
		}
		return exitOK
	}
	cfg, err := c.serverConfig(parser, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wsbridge: %v\nRun 'wsbridge --help' for usage.\n", err)
		return exitBadFlags
	}
	cfg.Reparse = func() (*server.Config, error) { return reparse(args, opts, src, stderr) }

	srv, err := server.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wsbridge: %v\n", err)
		return exitBadConfig
	}
	defer srv.Close()
	if err := srv.Listen(); err != nil {
		return exitCannotListen // logged by Listen
	}
	if err := srv.Run(); err != nil {
		return exitCannotListen // logged by Run
	}
	return exitOK
}

// serverConfig checks the flags, each error naming its flag, and turns them
// into the server's Config; k is the parser that filled c, for the flag
// values a reload compares, and log is where the daemon logs.
func (c *cli) serverConfig(k *kong.Kong, log io.Writer) (*server.Config, error) {
	if len(c.Command) > 0 && c.Command[0] == "--" {
		c.Command = c.Command[1:]
	}
	endpoints, err := c.endpoints(k, log)
	if err != nil {
		return nil, err
	}
	switch {
	case len(c.Command) == 0 && c.Dir == "" && c.StaticDir == "" && c.CgiDir == "" && len(endpoints) == 0:
		return nil, errors.New("no command given: usage is wsbridge [flags] COMMAND [ARGS...] (or --dir=DIR, --endpoint=PATH=COMMAND, or only --staticdir/--cgidir)")
	case c.Port < 0 || c.Port > 65535:
		return nil, fmt.Errorf("--port=%d: not a port number (0-65535)", c.Port)
	case c.MaxFrameSize < 0:
		return nil, fmt.Errorf("--maxframesize=%d: must be 0 (unlimited) or more", c.MaxFrameSize)
	case c.MaxForks < 0:
		return nil, fmt.Errorf("--maxforks=%d: must be 0 (unlimited) or more", c.MaxForks)
	case c.CloseMs < 0:
		return nil, fmt.Errorf("--closems=%d: must be 0 or more", c.CloseMs)
	case c.PingMs < 0:
		return nil, fmt.Errorf("--pingms=%d: must be 0 (off) or more", c.PingMs)
	case c.PassStderr && c.Binary:
		return nil, errors.New("--passstderr cannot be combined with --binary: stderr lines are sent as JSON text")
	case c.Framing != "line" && (c.Terminal || c.Broadcast || c.PTY || c.PassStderr):
		return nil, fmt.Errorf("--framing=%s cannot be combined with --terminal, --broadcast, --pty or --passstderr: it frames a pipe session's stdin and stdout", c.Framing)
	}
	cfg := &server.Config{
		Version:       build.version,
		Command:       c.Command,
		Log:           log,
		LogLevel:      c.LogLevel,
		LogFormat:     c.LogFormat,
		Binary:        c.Binary,
		PassStderr:    c.PassStderr,
		MaxFrameSize:  c.MaxFrameSize,
		Framing:       c.Framing,
		Compress:      c.Compress.compression(),
		MaxForks:      c.MaxForks,
		CloseGrace:    time.Duration(c.CloseMs) * time.Millisecond,
		PingInterval:  time.Duration(c.PingMs) * time.Millisecond,
		PassEnv:       strings.Split(c.PassEnv, ","),
		ReverseLookup: c.ReverseLookup,
		Port:          c.Port,
		Addresses:     c.Address,
		SSL:           c.SSL,
		Flags:         flagValues(k),
		Endpoints:     endpoints,
	}
	if err := c.validateHTTP(cfg); err != nil {
		return nil, err
	}
	if err := c.validateTerminal(cfg); err != nil {
		return nil, err
	}
	if err := c.validateBroadcast(cfg); err != nil {
		return nil, err
	}
	if err := c.validateService(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}
