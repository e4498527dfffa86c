package server

import (
	"io"
	"text/template"
	"time"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/auth"
	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/bridge/ratelimit"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// Config is everything the daemon runs with, checked and parsed by the
// command line (package main) before New: lists that could be wrong are
// already parsed here (headers, proxies, origins, the title template), so
// every mistake was reported naming its flag, and nothing is parsed twice.
// Files and folders are opened, and the command looked up, by New.
type Config struct {
	// Version is wsbridge's version, for SERVER_SOFTWARE, the metrics and
	// the log.
	Version string
	// Command is the program each connection runs and its arguments, as
	// given; New looks it up. Empty with Dir, or to serve only files or CGI.
	Command []string

	// Log is where the log goes; LogLevel (debug, trace, access, info,
	// error, fatal) and LogFormat (text or json) shape it.
	Log       io.Writer
	LogLevel  string
	LogFormat string

	// Sessions.
	Binary       bool
	PassStderr   bool
	MaxFrameSize int64
	// Framing is --framing of pipe sessions: "line" (or empty), "nul" or
	// "length".
	Framing string
	// Compress is --compress, for every kind of session.
	Compress      session.Compression
	MaxForks      int
	CloseGrace    time.Duration
	PingInterval  time.Duration
	PassEnv       []string
	ReverseLookup bool
	Subprotocols  []string

	// Listening.
	Port          int      // 0: 80, or 443 with SSL
	Addresses     []string // none: all interfaces
	UnixSocket    string
	RedirPort     int
	HeaderTimeout time.Duration
	// IdleConnTimeout closes a keep-alive connection with no request for
	// this long (--idle-conn-timeout).
	IdleConnTimeout time.Duration
	// MaxConnsPerIP bounds each client address's TCP connections and
	// sessions (--max-conns-per-ip); 0: unlimited.
	MaxConnsPerIP int
	// ConnRate bounds how fast each client address opens sessions
	// (--conn-rate); the zero Rate: unlimited.
	ConnRate ratelimit.Rate
	// Limits are each session's limits (--msg-rate, --idle-timeout).
	Limits session.Limits
	// CGITimeout bounds a CGI request from its start to the script's end
	// (--cgi-timeout).
	CGITimeout time.Duration

	// What answers requests.
	Dir        string // executables under Dir are the endpoints, instead of Command
	StaticDir  string
	CGIDir     string
	DevConsole bool

	// Security.
	Origins         *bridge.OriginPolicy // --origin and --sameorigin; never nil
	Credentials     []string             // USER:PASSWORD, checked
	CredentialFiles []string
	SSL             bool
	SSLCert         string
	SSLKey          string
	SSLCA           string
	// NoAuth keeps a writable terminal reachable from other hosts open
	// without the access token it otherwise takes (--no-auth).
	NoAuth      bool
	Headers     []Header // on every response
	HeadersWS   []Header // on responses to upgrades
	HeadersHTTP []Header // on plain HTTP responses

	// JWT verifies tokens (--jwt-key, --jwks-url and the --jwt-* flags);
	// nil without. The server sets its Logger and OnJWKSFetch.
	JWT *auth.JWTOptions
	// AuthHeader names the header in which a --trusted-proxy gives the
	// authenticated user (--auth-header); "" without.
	AuthHeader string

	// AccessToken is the writable terminal's access token read from
	// --token-file, instead of a random one; "" without.
	AccessToken string
	// AllowedHosts are the --allowed-host names a request's Host may give
	// beside IP addresses, localhost, this machine's name and the TLS
	// certificate's names; nil allows only those.
	AllowedHosts *AllowedHosts

	// Pseudo-terminals and the browser terminal.
	PTY      bool
	Term     string
	Cwd      string // absolute, or "" for wsbridge's own
	URLArgs  bool
	Once     bool
	Terminal *TerminalConfig // nil without --terminal

	// Broadcast sessions (--broadcast and its flags); nil without. The
	// server sets its Observer.
	Broadcast *broadcast.Options

	// Running as a service.
	ShutdownTimeout time.Duration
	MetricsAddress  string
	TrustedProxies  TrustedProxies
	// TrustedProxyHeader is the one header read from them: one of the
	// ProxyHeader constants (--trusted-proxy-header).
	TrustedProxyHeader string

	// Endpoints are the paths with session settings of their own
	// ([[endpoint]] tables of the config file, --endpoint); Command or Dir,
	// if set, is the catch-all "/" endpoint besides them. A SIGHUP reloads
	// them (see Reparse).
	Endpoints []Endpoint

	// Flags are the values of every flag by name, and Reparse reads the
	// configuration again as at startup (command line, environment, config
	// file). On SIGHUP the daemon applies what may change live and logs what
	// changed, comparing Flags; with no Reparse, SIGHUP reloads only the
	// certificates.
	Flags   map[string]any
	Reparse func() (*Config, error)
}

// Endpoint is one path's sessions: Path is exact ("/echo"), or a prefix
// when it ends in "/" ("/term/"); the longest match wins. Config holds the
// session settings, checked by the same code as the global flags: its
// Command (or Dir), kind (Terminal, Broadcast), pages (DevConsole) and
// session options. Its server-level fields are not used: the server's are.
type Endpoint struct {
	Path   string
	Config *Config
}

// TerminalConfig is the browser terminal's part of Config (--terminal).
type TerminalConfig struct {
	Writable   bool
	NoTransfer bool // the page's file transfers (ZMODEM, trzsz) are off
	Reconnect  time.Duration
	Shared     bool
	MaxClients int
	Scrollback int // lines, terminal.Options.Scrollback
	// Writers and WritersClaims type into the terminal; everyone else
	// watches (--writers, --writers-claim). Both empty: everyone types.
	Writers       []string
	WritersClaims []auth.ClaimMatch
	Title         *template.Template // checked with terminal.TitleData
	ClientOptions map[string]string  // of the page's xterm.js
}

// ListenPort is the main port: Port, or 80, or 443 with SSL.
func (c *Config) ListenPort() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.SSL:
		return 443
	default:
		return 80
	}
}

// tunables are the bridge settings a reload may change.
func (c *Config) tunables() session.Tunables {
	return session.Tunables{MaxForks: c.MaxForks, CloseGrace: c.CloseGrace, PingInterval: c.PingInterval}
}
