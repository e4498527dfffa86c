// Command wsbridge turns any program that reads stdin and writes stdout into
// a WebSocket server: each connection runs the program, and lines (or bytes)
// flow between its standard streams and WebSocket messages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/process"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

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
	PassStderr    bool             `name:"passstderr" help:"Send stdout and stderr lines to the client as {\"stream\":\"stdout\"|\"stderr\",\"data\":\"...\"} text messages instead of logging stderr."`
	MaxFrameSize  int64            `name:"maxframesize" default:"1048576" help:"Largest client message in bytes (bigger ones close with 1009), and the size output lines are cut at. 0: unlimited. Default: ${default}." placeholder:"BYTES"`
	MaxForks      int              `name:"maxforks" default:"1024" help:"Most children running at once; beyond it upgrades get HTTP 429. 0: unlimited. Default: ${default}." placeholder:"N"`
	CloseMs       int              `name:"closems" help:"Extra milliseconds added to each wait of the kill sequence (stdin close, SIGINT, SIGTERM, SIGKILL)." placeholder:"MS"`
	PingMs        int              `name:"pingms" help:"Ping the client every MS milliseconds; no pong within twice that ends the session. 0: no pings." placeholder:"MS"`
	PassEnv       string           `name:"passenv" default:"PATH,LD_LIBRARY_PATH" help:"Comma-separated variables of wsbridge's own environment the child inherits. Default: ${default}." placeholder:"VARS"`
	ReverseLookup bool             `name:"reverselookup" help:"Resolve the client's address to a name for REMOTE_HOST."`
	LogLevel      string           `name:"loglevel" default:"access" enum:"debug,trace,access,info,error,fatal" help:"Least severe messages logged: debug, trace, access, info, error or fatal."`
	LogFormat     string           `name:"logformat" default:"text" enum:"text,json" help:"Log as text or as one JSON object per line."`
	Version       kong.VersionFlag `env:"-" help:"Print the version and exit."`
	HelpMan       bool             `name:"help-man" hidden:"" help:"Print the man page (roff) and exit."`
	HTTPFlags
	TerminalFlags
	BroadcastFlags

	// Running as a service (service.go, config.go, metrics.go, proxy.go).
	Config          string        `name:"config" placeholder:"FILE" help:"Read settings from this TOML file: any flag by its name (maxforks = 10) and the program (command = [\"./count.sh\"]). The command line, then WSBRIDGE_<FLAG> variables, win over it. SIGHUP re-reads loglevel, maxforks, pingms and closems."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" default:"10s" placeholder:"DURATION" help:"On SIGTERM or SIGINT, how long sessions get to end (each child's kill sequence, close 1001) before the rest are killed. Default: 10s."`
	MetricsAddress  string        `name:"metrics-address" placeholder:"HOST:PORT" help:"Serve Prometheus metrics at /metrics, and /healthz and /readyz, on this separate address (never the public port)."`
	TrustedProxy    []string      `name:"trusted-proxy" placeholder:"CIDR" help:"Believe Forwarded / X-Forwarded-For / X-Forwarded-Proto from these peers for REMOTE_ADDR and HTTPS; repeat or comma-separate. Default: trust nobody."`

	Command []string `arg:"" optional:"" passthrough:"partial" help:"The program each connection runs, with its arguments. Flags after it belong to it." placeholder:"COMMAND [ARGS...]"`
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

// exitRequest carries kong's exit (after --help or --version) out of the
// parser without ending a test process.
type exitRequest int

// parserOptions configure kong for run, and for reparse on SIGHUP.
// helpPrinter is kong's help with wsbridge's own usage lines: kong's generic
// one puts [flags] after the command, where they would be the command's.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	fmt.Fprint(ctx.Stdout, "Usage: wsbridge [flags] COMMAND [ARGS...]\n       wsbridge [flags] --dir=DIR\n")
	options.NoAppSummary = true
	return kong.DefaultHelpPrinter(options, ctx)
}

func parserOptions(stdout, stderr io.Writer, src *configSource) []kong.Option {
	return []kong.Option{
		kong.Name("wsbridge"),
		kong.Description(description),
		kong.Vars{"version": "wsbridge " + version},
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest(code)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.Help(helpPrinter),
		// WSBRIDGE_<FLAG> variables and --config (config.go).
		kong.DefaultEnvars(envPrefix),
		noEnvForHidden(),
		kong.Resolvers(src),
		kong.WithBeforeResolve(src.load),
	}
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	var c cli
	src := new(configSource)
	opts := parserOptions(stdout, stderr, src)
	parser, err := kong.New(&c, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "wsbridge: %v\n", err)
		return exitBadConfig
	}
	defer func() {
		if r := recover(); r != nil {
			req, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = int(req)
		}
	}()
	if _, err := parser.Parse(websocketdFlags(args, parser)); err != nil {
		if code, ok := configFailure(err, stderr); ok {
			return code
		}
		fmt.Fprintf(stderr, "wsbridge: %v\nRun 'wsbridge --help' for usage.\n", err)
		return exitBadFlags
	}
	if c.HelpMan {
		if err := writeManPage(stdout, parser); err != nil {
			fmt.Fprintf(stderr, "wsbridge: %v\n", err)
			return exitBadConfig
		}
		return exitOK
	}
	src.fillCommand(&c)
	if err := c.validate(); err != nil {
		fmt.Fprintf(stderr, "wsbridge: %v\nRun 'wsbridge --help' for usage.\n", err)
		return exitBadFlags
	}
	var command bridge.Command
	if len(c.Command) > 0 {
		path, err := process.Resolve(c.Command[0])
		if err != nil {
			fmt.Fprintf(stderr, "wsbridge: %v\n", err)
			return exitBadConfig
		}
		command = bridge.Command{Path: path, Args: c.Command}
	}
	resolve, scriptDir, err := c.resolver()
	if err != nil {
		fmt.Fprintf(stderr, "wsbridge: %v\n", err)
		return exitBadConfig
	}
	if resolve == nil && len(c.Command) == 0 {
		// Only files or CGI, as websocketd allows: no WebSocket endpoint.
		resolve = func(*http.Request) (bridge.Endpoint, error) { return bridge.Endpoint{}, bridge.ErrNoEndpoint }
	}

	level := new(slog.LevelVar)
	level.Set(levelByName[c.LogLevel])
	logger := newLogger(stderr, level, c.LogFormat)
	// Metrics are counted whether or not they are served: a socket-activated
	// metrics listener is known only once the listeners are open.
	m := newMetrics()
	handler := bridge.New(bridge.Options{
		Command:        command,
		Resolve:        resolve,
		Subprotocols:   c.subprotocols(),
		MaxForks:       c.MaxForks,
		CloseGrace:     time.Duration(c.CloseMs) * time.Millisecond,
		PingInterval:   time.Duration(c.PingMs) * time.Millisecond,
		PassEnv:        strings.Split(c.PassEnv, ","),
		ReverseLookup:  c.ReverseLookup,
		ServerSoftware: "wsbridge/" + version,
		Logger:         logger,
		Observer:       observer(m),
		Dir:            c.cwd(),
		URLArgs:        c.URLArg,
		Once:           c.Once,
		Kind:           c.sessionKind(m),
	})

	web, err := c.newWeb(handler, resolve, scriptDir, logger)
	if err != nil {
		fmt.Fprintf(stderr, "wsbridge: %v\n", err)
		return exitBadConfig
	}
	defer web.close()

	ls, err := c.openListeners(web.tls)
	if err != nil {
		logger.Log(context.Background(), bridge.LevelFatal, "cannot listen", "err", err)
		return exitCannotListen
	}
	proxies, _ := parseTrustedProxies(c.TrustedProxy) // checked by validate
	srv := &http.Server{
		// Forwarded addresses are settled first, so every check after
		// sees the client's address.
		Handler:           proxies.wrap(web.handler),
		ReadHeaderTimeout: c.HeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), bridge.LevelDebug),
	}
	svc := &service{
		log: logger, handler: handler, srv: srv, web: ls.web,
		metricsL:        ls.metrics,
		reload:          newReloader(logger),
		shutdownTimeout: c.ShutdownTimeout,
		sd:              notifier{log: logger},
	}
	if len(ls.metrics) > 0 {
		svc.metricsSrv = &http.Server{
			Handler:           &healthServer{metrics: m, handler: handler, ready: &svc.ready},
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), bridge.LevelDebug),
		}
	}
	live := newLiveSettings(logger, level, handler, &c, parser, func() (*cli, *kong.Kong, error) {
		return reparse(args, opts, src)
	})
	svc.reload.Register("config", live.reload)
	if web.certs != nil {
		svc.reload.Register("tls", web.certs.Reload)
	}
	return svc.serve()
}

func (c *cli) validate() error {
	if len(c.Command) > 0 && c.Command[0] == "--" {
		c.Command = c.Command[1:]
	}
	switch {
	case len(c.Command) == 0 && c.Dir == "" && c.StaticDir == "" && c.CgiDir == "":
		return errors.New("no command given: usage is wsbridge [flags] COMMAND [ARGS...] (or --dir=DIR, or only --staticdir/--cgidir)")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("--port=%d: not a port number (0-65535)", c.Port)
	case c.MaxFrameSize < 0:
		return fmt.Errorf("--maxframesize=%d: must be 0 (unlimited) or more", c.MaxFrameSize)
	case c.MaxForks < 0:
		return fmt.Errorf("--maxforks=%d: must be 0 (unlimited) or more", c.MaxForks)
	case c.CloseMs < 0:
		return fmt.Errorf("--closems=%d: must be 0 or more", c.CloseMs)
	case c.PingMs < 0:
		return fmt.Errorf("--pingms=%d: must be 0 (off) or more", c.PingMs)
	case c.PassStderr && c.Binary:
		return errors.New("--passstderr cannot be combined with --binary: stderr lines are sent as JSON text")
	}
	if err := c.validateHTTP(); err != nil {
		return err
	}
	if err := c.validateTerminal(); err != nil {
		return err
	}
	if err := c.validateBroadcast(); err != nil {
		return err
	}
	return c.validateService()
}
