package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// HTTPFlags are the web server's flags, websocketd's names and meanings.
// They are embedded in cli.
type HTTPFlags struct {
	Dir            string        `name:"dir" help:"Serve every executable under DIR as an endpoint named by its path, instead of one COMMAND: /chat.sh/room/1?x=y runs DIR/chat.sh with SCRIPT_NAME=/chat.sh and PATH_INFO=/room/1; subfolders work. Folders, missing or non-executable files, dotfiles and anything outside DIR get 404 before the upgrade; a path with . or .. segments is looked up clean (never above DIR)." placeholder:"DIR"`
	StaticDir      string        `name:"staticdir" help:"Serve the files under DIR to plain GET and HEAD requests, with Content-Type, ETag, Last-Modified and ranges; a folder is served by its index.html. Symbolic links, absolute or relative, are followed when they lead to a file inside DIR. Never dotfiles, folder listings, anything outside DIR, nor scripts of --cgidir or --dir." placeholder:"DIR"`
	CgiDir         string        `name:"cgidir" help:"Run the CGI scripts under DIR for plain HTTP requests, with the same environment as sessions (--passenv only); each running script counts against --maxforks. Scripts are never served as static files." placeholder:"DIR"`
	DevConsole     bool          `name:"devconsole" help:"Answer a plain GET on any endpoint with an interactive console page to connect to it, send text or hex bytes and watch messages and close codes. Cannot be combined with --staticdir."`
	Origin         []string      `name:"origin" help:"Accept WebSocket upgrades only from pages of these origins, comma-separated or repeated: host, host:port, http://host[:port] or https://host[:port]. Without a port any port matches; without a scheme http and https do. Others, and a missing or null Origin, get 403." placeholder:"HOST[:PORT]"`
	SameOrigin     bool          `name:"sameorigin" help:"Accept WebSocket upgrades only from pages of this server's own host and port (Origin against the Host header); others, and a missing Origin, get 403."`
	AllowedHost    []string      `name:"allowed-host" help:"Also answer requests whose Host header names NAME, comma-separated or repeated: a host name, .example.com (it and its subdomains) or *.example.com (its subdomains only). Always answered: IP addresses, localhost and *.localhost, this machine's host name and, with --ssl, the certificate's DNS names. Any other Host gets 403 before anything else, on every listener, the metrics one too: a web page cannot reach wsbridge through DNS rebinding. * answers every Host, with a warning." placeholder:"NAME"`
	Credential     []string      `name:"credential" sep:"none" help:"Require HTTP Basic authentication on every request with this USER:PASSWORD; repeat for more users. Failures get 401. The child sees REMOTE_USER and AUTH_TYPE=Basic; pages served carry a short-lived cookie so browsers that send no credentials on a WebSocket upgrade (Safari) still connect. Without --origin or --sameorigin, an upgrade from another site's page (an Origin that is not this server's own) gets 403, as with --credential-file and --sslca." placeholder:"USER:PASSWORD"`
	CredentialFile []string      `name:"credential-file" sep:"none" help:"Read --credential entries from FILE: one USER:PASSWORD or USER:BCRYPT-HASH per line; blank lines and # comments are skipped. Repeatable." placeholder:"FILE"`
	NoAuth         bool          `name:"no-auth" help:"With --terminal --writable, do not require an access token. Without it, a writable terminal that other hosts can reach (any --address but loopback ones, the default of all interfaces included; unix sockets are local) and that no --credential, --credential-file or --sslca protects takes a random token made at startup: wsbridge prints the URL carrying it (?token=...), a page opened with it keeps it in a cookie, and requests without it get 403. With --no-auth anyone who can connect gets a shell: a warning is logged."`
	TokenFile      string        `name:"token-file" help:"With --terminal --writable, take the access token from FILE (its first line: 16 or more letters, digits or - . _ ~) instead of a random one made at startup, and require it on every listener, loopback ones and unix sockets too. It is never printed; the log shows the URLs with the token redacted." placeholder:"FILE"`
	SSL            bool          `name:"ssl" help:"Serve HTTPS and WSS (TLS 1.2 or newer) with --sslcert and --sslkey; the default port becomes 443. SIGHUP re-reads the certificate files without dropping sessions."`
	SSLCert        string        `name:"sslcert" help:"PEM certificate (chain) for --ssl." placeholder:"FILE"`
	SSLKey         string        `name:"sslkey" help:"PEM private key for --ssl." placeholder:"FILE"`
	SSLCA          string        `name:"sslca" help:"With --ssl, require client certificates signed by a CA in this PEM file; the child sees SSL_CLIENT_S_DN and SSL_CLIENT_VERIFY." placeholder:"FILE"`
	RedirPort      int           `name:"redirport" help:"Also listen on this port and answer plain HTTP there with a redirect to the main port (https with --ssl), keeping path and query." placeholder:"PORT"`
	Header         []string      `name:"header" sep:"none" help:"Add the header \"Name: value\" to every response; repeatable." placeholder:"\"NAME: VALUE\""`
	HeaderWS       []string      `name:"header-ws" sep:"none" help:"Add the header \"Name: value\" to responses to WebSocket upgrades only; repeatable." placeholder:"\"NAME: VALUE\""`
	HeaderHTTP     []string      `name:"header-http" sep:"none" help:"Add the header \"Name: value\" to plain HTTP responses only; repeatable." placeholder:"\"NAME: VALUE\""`
	UnixSocket     string        `name:"unixsocket" help:"Listen on this unix socket, plain HTTP: alone, or beside TCP when --port or --address is given too. A stale socket file is replaced; one in use is an error. The child sees REMOTE_ADDR=unix-socket." placeholder:"PATH"`
	Subprotocol    []string      `name:"subprotocol" help:"A WebSocket subprotocol spoken, comma-separated or repeated, preferred in this order whatever the client's order; the child sees the chosen one as WEBSOCKET_PROTOCOL. A client offering only others gets 400." placeholder:"NAME"`
	HeaderTimeout  time.Duration `name:"headertimeout" default:"10s" help:"Longest wait for a request's headers, TLS handshake included. Request headers are limited to 64 KiB (larger get 431). Default: ${default}." placeholder:"DURATION"`

	// Tokens (JWT) and the identity an authenticating proxy gives. Any one
	// method that admits a request is enough: see "Who may connect".
	JWTKey       []string      `name:"jwt-key" sep:"none" placeholder:"FILE" help:"Accept a JWT signed with the key in FILE: an HMAC secret (HS256, HS384, HS512; 32 bytes or more, surrounding blanks trimmed) or PEM public keys or certificates (RS*, PS*, ES*, EdDSA). Repeat for more keys (rotation). The token comes in Authorization: Bearer, ?access_token= (removed from QUERY_STRING and the logs) or the --jwt-cookie cookie; exp is required and exp, nbf and iat are checked with --jwt-leeway; alg none, and an alg no key is of, are refused. A missing or bad token gets 401 with WWW-Authenticate: Bearer error=\"invalid_token\". The child sees REMOTE_USER (--jwt-user-claim), AUTH_TYPE=Bearer and JWT_CLAIMS (the verified claims as JSON); the session is closed with 4401 when the token expires."`
	JWKSURL      string        `name:"jwks-url" placeholder:"URL" help:"Accept a JWT signed with a key of the JWK Set at URL: fetched at startup (wsbridge does not start if that fails), every --jwks-refresh, and on a token with an unknown kid (at most every 30 s). A failed fetch keeps the keys there are; it is logged and counted (wsbridge_jwks_fetches_total)."`
	JWKSRefresh  time.Duration `name:"jwks-refresh" default:"1h" placeholder:"DURATION" help:"How often --jwks-url is fetched again. Default: ${default}."`
	JWTIssuer    string        `name:"jwt-issuer" placeholder:"ISS" help:"Accept only a JWT whose iss claim is ISS."`
	JWTAudience  string        `name:"jwt-audience" placeholder:"AUD" help:"Accept only a JWT whose aud claim is or contains AUD."`
	JWTLeeway    time.Duration `name:"jwt-leeway" default:"30s" placeholder:"DURATION" help:"Clock skew allowed when checking a JWT's exp, nbf and iat; a session lasts until exp plus this. Default: ${default}."`
	JWTUserClaim string        `name:"jwt-user-claim" default:"sub" placeholder:"CLAIM" help:"The JWT claim (a string or number) that is REMOTE_USER; a token without it is refused. Default: ${default}."`
	JWTCookie    string        `name:"jwt-cookie" default:"wsbridge_jwt" placeholder:"NAME" help:"The cookie that may carry the JWT, for browsers, which cannot set headers on a WebSocket upgrade. Default: ${default}."`
	AuthHeader   string        `name:"auth-header" placeholder:"NAME" help:"Take the user from header NAME (X-Forwarded-User, X-Auth-Request-User...) set by an authenticating proxy in front (oauth2-proxy, Authelia, nginx auth_request): believed only from a --trusted-proxy peer, which it needs; from any other peer the header is removed and ignored, and with no other method configured the request gets 401. The child sees REMOTE_USER and AUTH_TYPE=proxy."`

	// Bounds on what a client holds, before it has authenticated too.
	IdleConnTimeout time.Duration `name:"idle-conn-timeout" default:"60s" help:"Close a keep-alive connection that has been waiting this long for its next request (WebSocket sessions are not affected). Default: ${default}." placeholder:"DURATION"`
	MaxConnsPerIP   int           `name:"max-conns-per-ip" default:"0" help:"Most open connections from one client address (IPv6: one /64), counted before authentication: one more is answered 429 with Retry-After and closed at once (under TLS just closed). A --trusted-proxy peer is exempt; instead at most N WebSocket sessions per client address, the forwarded one, get through (429 before the upgrade). Refusals are logged, a line a second at most. 0, the default: unlimited." placeholder:"N"`
	ConnRate        string        `name:"conn-rate" placeholder:"N/DURATION" help:"Most WebSocket sessions one client address (the --trusted-proxy resolved one; IPv6: one /64) may open per DURATION, as a token bucket: a burst of N, then one every DURATION/N, such as 20/1m. One more is answered 429 with Retry-After (the wait for the next) before the upgrade, logged and counted (reason conn_rate). The table of addresses keeps those of the last DURATION, 65,536 at most. Default: unlimited."`
	MsgRate         string        `name:"msg-rate" placeholder:"N/DURATION" help:"Most messages one client may send per DURATION, as a token bucket (a burst of N, such as 100/1s): each client of a pipe or broadcast session on its own, so one noisy client cannot flood a shared program. Past it the client is closed with 1008 \"rate limit\", or see --msg-rate-mode. A terminal's keystrokes are not counted. Default: unlimited."`
	MsgRateMode     string        `name:"msg-rate-mode" default:"close" enum:"close,drop" placeholder:"MODE" help:"What --msg-rate does to a message over the rate: close (the client, with 1008) or drop (read and thrown away, counted in wsbridge_messages_dropped_total{reason=\"msg_rate\"}; the client stays). Default: ${default}."`
	IdleTimeout     time.Duration `name:"idle-timeout" placeholder:"DURATION" help:"End a session with no input and no output for DURATION: its program gets the kill sequence and the client close 4408 \"idle\". A shared terminal counts every client's keys and its output; a broadcast client is closed alone (the group's program goes on) when it neither sent nor was sent anything. Default: 0, never."`
	CGITimeout      time.Duration `name:"cgi-timeout" default:"60s" help:"Longest run of a CGI request, from its start to the script's end, receiving the request body included: past it the script gets the kill sequence and its --maxforks slot is freed; the client gets 504 if the script had not answered yet, else the connection is cut. Default: ${default}." placeholder:"DURATION"`
}

// defaultTitleFormat is --title-format's default.
const defaultTitleFormat = "{{.Command}} ({{.Hostname}})"

// ServiceFlags are the flags of running as a service. They are embedded in
// cli.
type ServiceFlags struct {
	Config          string        `name:"config" placeholder:"FILE" help:"Read settings from this TOML file: any flag by its name (maxforks = 10) and the program (command = [\"./count.sh\"]). The command line, then WSBRIDGE_<FLAG> variables, win over it. SIGHUP re-reads loglevel, maxforks, pingms and closems."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" default:"10s" placeholder:"DURATION" help:"On SIGTERM or SIGINT, how long sessions get to end (each child's kill sequence, close 1001) before the rest are killed. Default: 10s."`
	MetricsAddress  string        `name:"metrics-address" placeholder:"HOST:PORT" help:"Serve Prometheus metrics at /metrics, and /healthz and /readyz, on this separate address (never the public port)."`
	TrustedProxy    []string      `name:"trusted-proxy" placeholder:"CIDR" help:"Believe the --trusted-proxy-header of these peers for REMOTE_ADDR and HTTPS; repeat or comma-separate. Default: trust nobody."`

	// The one header believed from a --trusted-proxy.
	TrustedProxyHeader string `name:"trusted-proxy-header" default:"x-forwarded-for" enum:"x-forwarded-for,x-real-ip,forwarded" placeholder:"HEADER" help:"The one header a --trusted-proxy sets, read for the client's address; every other forwarding header is ignored. x-forwarded-for: the rightmost address that is not a trusted proxy, HTTPS from X-Forwarded-Proto; x-real-ip: its address, HTTPS from X-Forwarded-Proto; forwarded: RFC 7239, walked as X-Forwarded-For, HTTPS from that element's proto=. Default: ${default}."`
}

// TerminalFlags are the flags of pseudo-terminals and the browser terminal,
// ttyd's and gotty's options where they have one. They are embedded in cli.
type TerminalFlags struct {
	PTY          bool          `name:"pty" help:"Run the program on a pseudo-terminal instead of pipes, in line or binary mode: it sees a terminal, so it line-buffers its output (a Python print() loop answers at once, without -u). The terminal is 80x24, or ?cols=&rows= of the request, with echo off; stderr is merged into stdout. The terminal's line discipline applies to input: a line longer than 4095 bytes is cut, and control characters act as keys (^C interrupts, ^D ends input). Not on Windows, which refuses it at startup."`
	Terminal     bool          `name:"terminal" help:"Serve a browser terminal: a plain GET on the endpoint gets the terminal page (xterm.js), and the WebSocket upgrade on the same URL is the session, speaking subprotocol wsbridge.tty.v1 with the program on a pseudo-terminal. Implies --pty. Read-only unless --writable. Without --origin or --sameorigin, only pages of this server's own origin may connect (cross-site Origins get 403); a request without an Origin header, which only programs send, is accepted. Not on Windows, which refuses it at startup."`
	Writable     bool          `name:"writable" help:"With --terminal, pass the clients' keyboard input to the program. Without it terminals are read-only and input is dropped."`
	Reconnect    time.Duration `name:"reconnect" placeholder:"DURATION" help:"With --terminal, keep a program whose client went away running for DURATION (such as 10m): the page reconnects with its session token and gets the screen back (the screen as it is, with --scrollback lines above it) instead of a new program; after DURATION without a client it gets the kill sequence. 0, the default: stop it as soon as its client leaves."`
	Shared       bool          `name:"shared" help:"With --terminal, attach every client of an endpoint to one program: output goes to all of them, input comes from all of them (with --writable), and the terminal takes the smallest columns and rows among them. A client joining gets the screen as it is (with --scrollback lines above it); the fastest client sets the pace of the output, and one that falls 1 MiB behind it is dropped with close code 1013 and reconnects to a replay, never slowing the others. The program starts with the first client, with that client's --url-arg and environment, and is stopped when the last leaves (after --reconnect's DURATION, if set)."`
	Once         bool          `name:"once" help:"Serve a single session, then exit: upgrades that would start a second program get 503, and once the first program has ended the daemon shuts down and exits 0. Clients may still join that session with --shared or resume it with --reconnect."`
	Scrollback   int           `name:"scrollback" default:"1000" placeholder:"LINES" help:"With --terminal and --shared or --reconnect, the lines that scrolled off the top of the screen a client joining or resuming a session gets above the screen, which the server keeps (the screen itself is always sent, as a terminal emulator on the server holds it). 0: the screen only. Default: 1000."`
	MaxClients   int           `name:"max-clients" placeholder:"N" help:"With --terminal or --broadcast, most clients attached at once, over all sessions or groups; beyond it upgrades get 503. 0, the default: unlimited. (Otherwise each client runs its own program: see --maxforks.)"`
	Cwd          string        `name:"cwd" placeholder:"DIR" help:"Working directory of the programs run, sessions and CGI scripts alike. Default: wsbridge's own; a --terminal program starts in the HOME of the account wsbridge runs as, and gets HOME, USER, LOGNAME, SHELL, the locale and COLORTERM like a login."`
	Term         string        `name:"term" default:"xterm-256color" placeholder:"TERM" help:"TERM for programs on a pseudo-terminal (--pty, --terminal). Default: xterm-256color, what the terminal page emulates."`
	TitleFormat  string        `name:"title-format" default:"{{.Command}} ({{.Hostname}})" placeholder:"TEMPLATE" help:"With --terminal, the page title, a Go text/template with .Command (the command line), .Hostname (the server's name) and .RemoteAddr (the client's address). The program may still set a title of its own (OSC 0 or 2). Default: {{.Command}} ({{.Hostname}})."`
	URLArg       bool          `name:"url-arg" help:"Append the request's ?arg= values to the program's arguments, in order: /?arg=-l&arg=/tmp runs COMMAND ARGS... -l /tmp. Off by default: the client chooses them and one may start with -, so use it only with a program that treats its arguments as untrusted."`
	Writers      []string      `name:"writers" placeholder:"USER" help:"With --terminal --writable and authentication (--credential, --credential-file, a JWT, --auth-header), only these users (REMOTE_USER) type, comma-separated or repeated; everyone else who gets in watches: the page says so, their keys are dropped and counted and they do not size the terminal. With --writers-claim, either admits."`
	WritersClaim []string      `name:"writers-claim" placeholder:"CLAIM:VALUE" help:"With --terminal --writable and JWT authentication, clients whose token's CLAIM is VALUE (or holds it, in an array or a space-separated string such as scope) type; everyone else watches. A dotted CLAIM looks into objects: realm_access.roles:admin. Repeatable; any one admits."`
	NoTransfer   bool          `name:"no-transfer" help:"With --terminal, turn off file transfer in the page: running sz or tsz does not download a file in the browser, rz or trz does not open a file picker, and dropping a file on the terminal does nothing. Transfers are otherwise on for writable clients (never for read-only ones). The transfer bytes still pass through the terminal as any output does; this switches off the page's side of ZMODEM and trzsz."`
	ClientOption []string      `name:"client-option" sep:"none" placeholder:"KEY=VALUE" help:"With --terminal, set an option of the page's terminal; repeatable: fontSize=16, fontFamily=monospace, theme={\"background\":\"#1e1e1e\"} (an xterm.js theme as JSON), cursorBlink=true, scrollback=10000 (lines), renderer=dom (default webgl). The page ignores unknown keys and bad values."`
}

// BroadcastFlags are the flags of broadcast sessions: one program shared by
// every client of a request path.
type BroadcastFlags struct {
	Broadcast         bool          `name:"broadcast" help:"Share one program among all clients of the same request path (a group): /room/a and /room/b are two groups with two programs. Every output line (or --binary read) goes to every client of the group; every client message reaches the program's stdin whole, never interleaved with another client's. The program starts with the group's first client, holds one --maxforks slot, and gets the server-level CGI variables only; it is stopped when the last client leaves (after --linger). When it exits, every client gets its close code."`
	Replay            int           `name:"replay" placeholder:"N" help:"With --broadcast, send a joining client the group's last N output messages first, then the live ones, without a gap or a repeat. Default: 0."`
	Linger            time.Duration `name:"linger" placeholder:"DURATION" help:"With --broadcast, keep a group's program running for DURATION after its last client left; a client arriving meanwhile keeps it. Default: 0, stop it at once."`
	ClientQueue       int           `name:"client-queue" default:"1048576" placeholder:"BYTES" help:"With --broadcast, most bytes of output waiting for one client; a client that falls further behind is closed with 1013 \"too slow\", and the program and the other clients go on at full speed. It also bounds a message. Default: ${default}."`
	Restart           string        `name:"restart" default:"never" enum:"never,on-failure,always" placeholder:"WHEN" help:"With --broadcast, start a group's program again when it ends instead of closing its clients: never, on-failure (a non-zero exit or a signal) or always. Restarts wait 100ms, doubling to 10s, reset after 10s of uptime; clients stay connected, and their messages meanwhile are dropped. Default: never."`
	MaxGroups         int           `name:"max-groups" default:"10000" placeholder:"N" help:"With --broadcast, most groups open at once on this instance (each request path is one); a client that would open another gets 503 with Retry-After before the upgrade, logged and counted (reason max_groups). With --redis, also most groups the cluster keeps in Redis, counted there: a group counts until its keys expire (see --redis-history-ttl). 0: unlimited. Default: ${default}."`
	Redis             string        `name:"redis" placeholder:"URL" help:"With --broadcast, spread each group over every wsbridge with the same Redis and --redis-prefix: one program in the cluster (on the instance holding the group's lease), every client seeing every message in order. URL: redis://[user:password@]host:port/db, or rediss:// for TLS. See man/cluster.md, \"Broadcast across machines\"."`
	RedisPasswordFile string        `name:"redis-password-file" placeholder:"FILE" help:"With --redis, --redis-sentinel or --redis-cluster, read the Redis password from FILE (its first line) instead of the URL."`
	RedisPrefix       string        `name:"redis-prefix" default:"wsbridge" placeholder:"PREFIX" help:"With --redis, the start of every Redis key: instances with the same prefix and request path share a group. Default: ${default}."`
	Lease             time.Duration `name:"lease" default:"5s" placeholder:"DURATION" help:"With --redis, how long a group's lease lasts unrenewed: it is renewed every third of it, and an owner gone for good is replaced after about the lease and a third. A Redis outage shorter than the lease costs the owner nothing. Default: ${default}."`
	RedisBuffer       int           `name:"redis-buffer" default:"8388608" placeholder:"BYTES" help:"With --redis, most bytes of output (and, apart, of input) a group holds while Redis does not answer; beyond it the oldest are dropped and counted (wsbridge_redis_dropped_total), and with --envelope the program gets a gap event. Default: ${default} (8 MiB)."`
	RedisStreamBytes  int64         `name:"redis-stream-bytes" default:"67108864" placeholder:"BYTES" help:"With --redis, most bytes each of a group's two streams holds in Redis (fields and values): past it the oldest output (history a reader that fell that far behind, or --replay, no longer gets: counted as missed, with a gap event under --envelope) or the oldest input no program has read yet is trimmed, and counted (wsbridge_redis_trimmed_total). Input is deleted as soon as the program has it. Default: ${default} (64 MiB)."`
	RedisHistoryTTL   time.Duration `name:"redis-history-ttl" default:"1h" placeholder:"DURATION" help:"With --redis, delete a group's keys (its streams, clients and offsets) DURATION after its last activity (a message, a client present, a lease renewal); a group opened after that starts a new history. At least --lease. Default: ${default}."`
	Envelope          bool          `name:"envelope" help:"With --broadcast, speak JSON lines with the program: a client message arrives as {\"client\":\"ID\",\"data\":\"...\"}, joins and leaves as {\"event\":\"join\",...} and {\"event\":\"leave\",...}; each output line must be {\"data\":\"...\"} (to all), {\"data\":\"...\",\"to\":[\"ID\",...]} (to those) or {\"close\":\"ID\",\"code\":4001,\"reason\":\"...\"}. Clients see only the data. Text mode only."`

	// Redis that survives its own failures: Sentinel or Cluster instead of --redis.
	RedisSentinel             string `name:"redis-sentinel" placeholder:"HOST:PORT,..." help:"With --broadcast, as --redis, with the master found through these Redis Sentinels (with --redis-master) and followed across a failover. [redis://|rediss://][user:password@] before the list sets TLS and the credentials for every node. See man/cluster.md, \"Broadcast across machines\"."`
	RedisMaster               string `name:"redis-master" placeholder:"NAME" help:"With --redis-sentinel, the name the sentinels monitor the master by."`
	RedisSentinelPasswordFile string `name:"redis-sentinel-password-file" placeholder:"FILE" help:"With --redis-sentinel, read the sentinels' own password from FILE (its first line); the master's is --redis-password-file's."`
	RedisCluster              string `name:"redis-cluster" placeholder:"HOST:PORT,..." help:"With --broadcast, as --redis, on a Redis Cluster found through these nodes: each group's keys are in one slot (its path is their hash tag), groups spread over the slots. [redis://|rediss://][user:password@] before the list sets TLS and the credentials for every node. See man/cluster.md, \"Broadcast across machines\"."`
}

// websocketdFlags rewrites websocketd's single-dash spelling of long flags
// ("-port=8080", Go's flag package accepts both) to kong's "--port=8080", so
// existing command lines keep working. Only known flag names before the
// command are touched; the command's own arguments pass through untouched.
func websocketdFlags(args []string, k *kong.Kong) []string {
	// takesValue[name] says whether a flag reads the next argument as its
	// value when written without "=" ("-port 8080").
	takesValue := map[string]bool{}
	for _, f := range k.Model.Flags {
		takesValue[f.Name] = !f.IsBool() && !f.IsCounter()
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value, known := takesValue[name]
		if known && !strings.HasPrefix(a, "--") && len(name) > 1 {
			a = "-" + a
		}
		out = append(out, a)
		if known && value && !hasValue && i+1 < len(args) {
			// The value may look like a command; it is not one.
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// exitRequest carries kong's exit (after --help or --version) out of the
// parser without ending a test process.
type exitRequest int

func (e exitRequest) Error() string { return fmt.Sprintf("exit with status %d", int(e)) }

// parserError is kong refusing the cli struct itself: a bug of ours, not of
// the command line.
type parserError struct{ err error }

func (e *parserError) Error() string { return e.err.Error() }

// helpPrinter is kong's help with wsbridge's own usage lines: kong's generic
// one puts [flags] after the command, where they would be the command's.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	fmt.Fprint(ctx.Stdout, "Usage: wsbridge [flags] COMMAND [ARGS...]\n       wsbridge [flags] --dir=DIR\n")
	options.NoAppSummary = true
	return kong.DefaultHelpPrinter(options, ctx)
}

// parserOptions configure kong for run, and for reparse on SIGHUP.
func parserOptions(stdout, stderr io.Writer, src *configSource) []kong.Option {
	return []kong.Option{
		kong.Name("wsbridge"),
		kong.Description(description),
		kong.Vars{"version": build.String()},
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

// buildInfo says which wsbridge this is.
type buildInfo struct {
	version   string // "0.2.0", a Go pseudo-version, or "devel"
	commit    string // 12 hex digits, "-dirty" added for a modified tree; "unknown"
	goVersion string // "go1.26.8"
	platform  string // "linux/amd64"
}

// String is what --version prints. It follows websocketd's "websocketd
// VERSION (GOVERSION OS-ARCH)" in spirit and adds the commit:
//
//	wsbridge 0.2.0 (commit 1fe29e1abcde, go1.26.8 linux/amd64)
func (b buildInfo) String() string {
	return fmt.Sprintf("wsbridge %s (commit %s, %s %s)", b.version, b.commit, b.goVersion, b.platform)
}

// pseudoRevision finds the commit in a Go pseudo-version
// (v0.2.1-0.20261206135734-1fe29e1abcde), which is what `go install
// ...@master` or a build in a git checkout records.
var pseudoRevision = regexp.MustCompile(`[.-]\d{14}-([0-9a-f]{12})(\+dirty)?$`)

// readBuild works out the version and commit: a release sets both with
// -ldflags -X; `go install github.com/wsbridge/wsbridge@v0.2.0` records the
// module version; a build in a git checkout records vcs.revision (unless
// -buildvcs=false); anything else is "devel".
func readBuild(ldVersion, ldCommit string, read func() (*debug.BuildInfo, bool)) buildInfo {
	b := buildInfo{version: ldVersion, commit: ldCommit, goVersion: runtime.Version(), platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := read()
	if ok && bi.GoVersion != "" {
		b.goVersion = bi.GoVersion
	}
	if ok && b.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.version = strings.TrimPrefix(strings.TrimSuffix(bi.Main.Version, "+dirty"), "v")
	}
	if ok && b.commit == "" {
		var rev string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev == "" {
			if m := pseudoRevision.FindStringSubmatch(bi.Main.Version); m != nil {
				rev, dirty = m[1], m[2] != ""
			}
		}
		if rev != "" {
			b.commit = rev[:min(len(rev), 12)]
			if dirty {
				b.commit += "-dirty"
			}
		}
	}
	if b.version == "" {
		b.version = "devel"
	}
	if b.commit == "" {
		b.commit = "unknown"
	}
	return b
}

// compressMode is --compress: a flag that works bare (--compress, the
// default mode) and with a mode (--compress=context-takeover), in a config
// file as compress = true or compress = "context-takeover". Empty: off.
type compressMode string

const (
	compressNoContextTakeover = "no-context-takeover"
	compressContextTakeover   = "context-takeover"
)

// Decode is kong.MapperValue: a bare --compress takes the default mode.
func (m *compressMode) Decode(ctx *kong.DecodeContext) error {
	if ctx.Scan.Peek().Type != kong.FlagValueToken {
		*m = compressNoContextTakeover
		return nil
	}
	switch v := ctx.Scan.Pop().Value.(type) {
	case bool:
		*m = ""
		if v {
			*m = compressNoContextTakeover
		}
		return nil
	case string:
		switch strings.ToLower(v) {
		case "true", "yes", "1", "on", compressNoContextTakeover:
			*m = compressNoContextTakeover
		case "false", "no", "0", "off", "":
			*m = ""
		case compressContextTakeover:
			*m = compressContextTakeover
		default:
			return fmt.Errorf("%q: want no-context-takeover (the default of a bare --compress), context-takeover or off", v)
		}
		return nil
	default:
		return fmt.Errorf("want true, false or a mode, got %T", v)
	}
}

// IsBool makes kong accept --compress without a value.
func (m *compressMode) IsBool() bool { return true }

// compression is the session package's name for the mode.
func (m compressMode) compression() session.Compression {
	switch m {
	case compressNoContextTakeover:
		return session.CompressionNoContextTakeover
	case compressContextTakeover:
		return session.CompressionContextTakeover
	}
	return session.CompressionOff
}
