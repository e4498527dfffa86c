package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/auth"
	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
	"github.com/wsbridge/wsbridge/bridge/ratelimit"
	"github.com/wsbridge/wsbridge/bridge/server"
	"github.com/wsbridge/wsbridge/bridge/terminal"
	"github.com/wsbridge/wsbridge/process"
)

// This file checks the parsed flags and turns them into the server's
// Config; flags.go declares them and reads the command line.

// validateTerminal checks the terminal flags and fills in cfg's part.
// --terminal turns --pty on.
func (c *cli) validateTerminal(cfg *server.Config) error {
	if c.Terminal {
		c.PTY = true
	}
	if c.PTY && !process.TerminalsSupported {
		flag := "--pty"
		if c.Terminal {
			flag = "--terminal"
		}
		return fmt.Errorf("%s: pseudo-terminals are not supported on %s; programs run on pipes there", flag, runtime.GOOS)
	}
	needsTerminal := []struct {
		flag string
		set  bool
	}{
		{"--writable", c.Writable},
		{"--writers", len(c.Writers) > 0},
		{"--writers-claim", len(c.WritersClaim) > 0},
		{"--reconnect", c.Reconnect != 0},
		{"--shared", c.Shared},
		{"--max-clients", c.MaxClients != 0 && !c.Broadcast},
		{"--scrollback", c.Scrollback != terminal.DefaultScrollback},
		{"--title-format", c.TitleFormat != defaultTitleFormat},
		{"--client-option", len(c.ClientOption) > 0},
		{"--no-transfer", c.NoTransfer},
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
	case c.NoAuth && !(c.Terminal && c.Writable) && !c.serves.writableTerminal:
		return errors.New("--no-auth needs --terminal --writable: only a writable terminal takes an access token")
	case c.NoAuth && c.authenticates():
		return errors.New("--no-auth cannot be combined with --credential, --credential-file, --sslca, --jwt-key, --jwks-url or --auth-header: they authenticate, and no access token is made then")
	case c.TokenFile != "" && !(c.Terminal && c.Writable) && !c.serves.writableTerminal:
		return errors.New("--token-file needs --terminal --writable: only a writable terminal takes an access token")
	case c.TokenFile != "" && c.NoAuth:
		return errors.New("--token-file cannot be combined with --no-auth: one sets the access token, the other turns it off")
	case c.TokenFile != "" && c.authenticates():
		return errors.New("--token-file cannot be combined with --credential, --credential-file, --sslca, --jwt-key, --jwks-url or --auth-header: they authenticate, and no access token is used then")
	case c.Terminal && c.DevConsole:
		return errors.New("--terminal cannot be combined with --devconsole: both answer a plain GET on the endpoint")
	case c.Terminal && c.StaticDir != "":
		return errors.New("--terminal cannot be combined with --staticdir: the terminal page answers a plain GET on the endpoint")
	case c.Terminal && len(c.Subprotocol) > 0:
		return errors.New("--subprotocol cannot be combined with --terminal: terminal endpoints speak " + terminal.TTYSubprotocol)
	case c.Reconnect < 0:
		return fmt.Errorf("--reconnect=%s: must be 0 (off) or more", c.Reconnect)
	case c.Scrollback < 0:
		return fmt.Errorf("--scrollback=%d: must be 0 (the screen only) or more lines", c.Scrollback)
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
	tmpl, err := c.titleTemplate()
	if err != nil {
		return err
	}
	if cfg.AccessToken, err = c.accessToken(); err != nil {
		return err
	}
	clientOptions := map[string]string{}
	for _, opt := range c.ClientOption {
		k, v, ok := strings.Cut(opt, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("--client-option=%q: want KEY=VALUE", opt)
		}
		clientOptions[strings.TrimSpace(k)] = v
	}
	writers, claims, err := c.writers()
	if err != nil {
		return err
	}
	cfg.PTY, cfg.Term, cfg.Cwd, cfg.URLArgs, cfg.Once = c.PTY, c.Term, c.cwd(), c.URLArg, c.Once
	if c.Terminal {
		cfg.Terminal = &server.TerminalConfig{
			Writers:       writers,
			WritersClaims: claims,
			Writable:      c.Writable,
			NoTransfer:    c.NoTransfer,
			Reconnect:     c.Reconnect,
			Shared:        c.Shared,
			MaxClients:    c.MaxClients,
			Scrollback:    c.Scrollback,
			Title:         tmpl,
			ClientOptions: clientOptions,
		}
	}
	return nil
}

// validateBroadcast checks the broadcast flags and fills in cfg's part.
func (c *cli) validateBroadcast(cfg *server.Config) error {
	needsBroadcast := []struct {
		flag string
		set  bool
	}{
		{"--replay", c.Replay != 0},
		{"--linger", c.Linger != 0},
		{"--client-queue", c.ClientQueue != broadcast.DefaultClientQueue},
		{"--restart", c.Restart != string(broadcast.RestartNever)},
		{"--envelope", c.Envelope},
		{"--redis", c.Redis != "" && !c.serves.broadcast},
		{"--redis-sentinel", c.RedisSentinel != ""},
		{"--redis-cluster", c.RedisCluster != ""},
		{"--redis-master", c.RedisMaster != ""},
		{"--redis-sentinel-password-file", c.RedisSentinelPasswordFile != ""},
		{"--max-groups", c.MaxGroups != broadcast.DefaultMaxGroups},
	}
	for _, n := range needsBroadcast {
		if n.set && !c.Broadcast {
			return fmt.Errorf("%s needs --broadcast", n.flag)
		}
	}
	restart, err := broadcast.ParseRestart(c.Restart)
	switch {
	case !c.Broadcast:
		return nil
	case c.Terminal:
		return errors.New("--broadcast cannot be combined with --terminal: a terminal shares its program with --shared")
	case c.PassStderr:
		return errors.New("--broadcast cannot be combined with --passstderr: stderr of a shared program is logged")
	case c.URLArg:
		return errors.New("--broadcast cannot be combined with --url-arg: the program is shared, and its arguments would be one client's")
	case c.Envelope && c.Binary:
		return errors.New("--envelope cannot be combined with --binary: envelopes are JSON text lines")
	case c.Replay < 0:
		return fmt.Errorf("--replay=%d: must be 0 (off) or more", c.Replay)
	case c.Linger < 0:
		return fmt.Errorf("--linger=%s: must be 0 (off) or more", c.Linger)
	case c.ClientQueue < 64:
		return fmt.Errorf("--client-queue=%d: must be at least 64 bytes", c.ClientQueue)
	case c.MaxGroups < 0:
		return fmt.Errorf("--max-groups=%d: must be 0 (unlimited) or more", c.MaxGroups)
	case err != nil:
		return fmt.Errorf("--restart=%s: %w", c.Restart, err)
	}
	cfg.Broadcast = &broadcast.Options{
		Binary: c.Binary, MaxFrameSize: c.MaxFrameSize, PTY: c.PTY, Term: c.Term,
		Replay: c.Replay, Linger: c.Linger, ClientQueue: c.ClientQueue, Restart: restart,
		Envelope: c.Envelope, MaxClients: c.MaxClients, MaxGroups: c.MaxGroups,
	}
	redis, err := c.redisOptions()
	cfg.Broadcast.Redis = redis
	return err
}

// redisOptions checks the --redis flags; nil without --redis,
// --redis-sentinel or --redis-cluster.
func (c *cli) redisOptions() (*cluster.Options, error) {
	needsRedis := []struct {
		flag string
		set  bool
	}{
		{"--redis-password-file", c.RedisPasswordFile != ""},
		{"--redis-prefix", c.RedisPrefix != cluster.DefaultPrefix},
		{"--lease", c.Lease != cluster.DefaultLease},
		{"--redis-buffer", c.RedisBuffer != cluster.DefaultBuffer},
		{"--redis-stream-bytes", c.RedisStreamBytes != cluster.DefaultStreamBytes},
		{"--redis-history-ttl", c.RedisHistoryTTL != cluster.DefaultHistoryTTL},
	}
	topologies := 0
	for _, v := range []string{c.Redis, c.RedisSentinel, c.RedisCluster} {
		if v != "" {
			topologies++
		}
	}
	for _, n := range needsRedis {
		if n.set && topologies == 0 {
			return nil, fmt.Errorf("%s needs --redis, --redis-sentinel or --redis-cluster", n.flag)
		}
	}
	switch {
	case topologies > 1:
		return nil, errors.New("--redis, --redis-sentinel and --redis-cluster exclude each other: give exactly one")
	case c.RedisMaster != "" && c.RedisSentinel == "":
		return nil, errors.New("--redis-master needs --redis-sentinel")
	case c.RedisSentinelPasswordFile != "" && c.RedisSentinel == "":
		return nil, errors.New("--redis-sentinel-password-file needs --redis-sentinel")
	case c.RedisSentinel != "" && c.RedisMaster == "":
		return nil, errors.New("--redis-sentinel needs --redis-master=NAME: the name the sentinels monitor the master by")
	case topologies == 0:
		return nil, nil
	}
	password, err := readPasswordFile("--redis-password-file", c.RedisPasswordFile)
	if err != nil {
		return nil, err
	}
	sentinelPassword, err := readPasswordFile("--redis-sentinel-password-file", c.RedisSentinelPasswordFile)
	if err != nil {
		return nil, err
	}
	opts := &cluster.Options{URL: c.Redis, Password: password}
	switch {
	case c.RedisSentinel != "":
		n, err := cluster.ParseNodes(c.RedisSentinel)
		if err != nil {
			return nil, fmt.Errorf("--redis-sentinel: %w", err)
		}
		opts.Sentinel, opts.MasterName, opts.SentinelPassword = &n, c.RedisMaster, sentinelPassword
	case c.RedisCluster != "":
		n, err := cluster.ParseNodes(c.RedisCluster)
		if err != nil {
			return nil, fmt.Errorf("--redis-cluster: %w", err)
		}
		opts.Cluster = &n
	default:
		if _, err := cluster.ParseURL(c.Redis, password); err != nil {
			return nil, fmt.Errorf("--redis=%s: %w", redactedURL(c.Redis), err)
		}
	}
	switch {
	case c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, "{} "):
		return nil, fmt.Errorf("--redis-prefix=%q: must be a non-empty name without braces or spaces", c.RedisPrefix)
	case c.Lease < 300*time.Millisecond:
		return nil, fmt.Errorf("--lease=%s: must be at least 300ms", c.Lease)
	case c.RedisBuffer < 4096:
		return nil, fmt.Errorf("--redis-buffer=%d: must be at least 4096 bytes", c.RedisBuffer)
	case c.RedisStreamBytes < minStreamBytes:
		return nil, fmt.Errorf("--redis-stream-bytes=%d: must be at least %d bytes (1 MiB): the owner appends up to 1 MiB at once", c.RedisStreamBytes, minStreamBytes)
	case c.RedisHistoryTTL < c.Lease:
		return nil, fmt.Errorf("--redis-history-ttl=%s: must be at least --lease (%s), or a live group's keys would expire between renewals", c.RedisHistoryTTL, c.Lease)
	}
	// What instances of a group must agree on: the owner's win (logged).
	settings := fmt.Sprintf("cmd=%q dir=%q cwd=%q binary=%t pty=%t term=%q maxframesize=%d envelope=%t replay=%d restart=%s linger=%s",
		c.Command, c.Dir, c.Cwd, c.Binary, c.PTY, c.Term, c.MaxFrameSize, c.Envelope, c.Replay, c.Restart, c.Linger)
	opts.Prefix, opts.Lease, opts.Buffer, opts.Settings = c.RedisPrefix, c.Lease, c.RedisBuffer, settings
	opts.StreamBytes, opts.HistoryTTL = c.RedisStreamBytes, c.RedisHistoryTTL
	return opts, nil
}

// readPasswordFile reads a password from the first line of file (flag
// names it in errors); "" without a file.
func readPasswordFile(flag, file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	password, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSuffix(password, "\r"), nil
}

// minStreamBytes is the least --redis-stream-bytes: an append of the
// owner's (up to 1 MiB of messages) trimmed whole before any instance read
// it would be lost to every client.
const minStreamBytes = 1 << 20

// redactedURL is raw with any password replaced by "xxxxx", for error
// messages; "..." when it is no URL at all.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "..."
	}
	return u.Redacted()
}

// accessToken reads --token-file: its first line, without surrounding
// blanks; "" without the flag.
func (c *cli) accessToken() (string, error) {
	if c.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	tok := strings.TrimSpace(line)
	if err := auth.CheckAccessToken(tok); err != nil {
		return "", fmt.Errorf("--token-file=%s: not a usable access token: %w", c.TokenFile, err)
	}
	return tok, nil
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

// validateHTTP checks the HTTP flags on their own, before anything is
// opened, and fills in cfg's part; files and folders are checked when they
// are opened.
func (c *cli) validateHTTP(cfg *server.Config) error {
	switch {
	case c.Dir != "" && len(c.Command) > 0:
		return fmt.Errorf("--dir and a COMMAND (%q) cannot be combined: --dir serves the executables under DIR", c.Command[0])
	case c.DevConsole && c.StaticDir != "":
		return errors.New("--devconsole cannot be combined with --staticdir: both answer plain GET requests")
	case c.SSL && (c.SSLCert == "" || c.SSLKey == ""):
		return errors.New("--ssl needs --sslcert and --sslkey")
	case !c.SSL && (c.SSLCert != "" || c.SSLKey != "" || c.SSLCA != ""):
		return errors.New("--sslcert, --sslkey and --sslca need --ssl")
	case c.RedirPort < 0 || c.RedirPort > 65535:
		return fmt.Errorf("--redirport=%d: not a port number (1-65535)", c.RedirPort)
	case c.RedirPort != 0 && c.RedirPort == cfg.ListenPort():
		return fmt.Errorf("--redirport=%d: must differ from the main port", c.RedirPort)
	case c.HeaderTimeout <= 0:
		return fmt.Errorf("--headertimeout=%v: must be more than 0", c.HeaderTimeout)
	case c.IdleConnTimeout <= 0:
		return fmt.Errorf("--idle-conn-timeout=%v: must be more than 0", c.IdleConnTimeout)
	case c.MaxConnsPerIP < 0:
		return fmt.Errorf("--max-conns-per-ip=%d: must be 0 (unlimited) or more", c.MaxConnsPerIP)
	case c.CGITimeout <= 0:
		return fmt.Errorf("--cgi-timeout=%v: must be more than 0", c.CGITimeout)
	}
	for _, h := range []struct {
		flag  string
		items []string
		into  *[]server.Header
	}{
		{"--header", c.Header, &cfg.Headers},
		{"--header-ws", c.HeaderWS, &cfg.HeadersWS},
		{"--header-http", c.HeaderHTTP, &cfg.HeadersHTTP},
	} {
		parsed, err := server.ParseHeaders(h.flag, h.items)
		if err != nil {
			return err
		}
		*h.into = parsed
	}
	origins, err := bridge.NewOriginPolicy(c.Origin, c.SameOrigin)
	if err != nil {
		return err
	}
	cfg.Origins = origins
	if cfg.AllowedHosts, err = server.ParseAllowedHosts(c.AllowedHost); err != nil {
		return err
	}
	// Checked as used: split at commas, which a config file string or
	// "a, b" leaves in one item.
	cfg.Subprotocols = c.subprotocols()
	for _, p := range cfg.Subprotocols {
		if !server.IsToken(p) {
			return fmt.Errorf("--subprotocol=%q: not a valid subprotocol name", p)
		}
	}
	for _, cr := range c.Credential {
		if auth.CheckCredential(cr) != nil {
			return errors.New("--credential: want USER:PASSWORD")
		}
	}
	if err := c.validateTokens(cfg); err != nil {
		return err
	}
	cfg.Dir, cfg.StaticDir, cfg.CGIDir, cfg.DevConsole = c.Dir, c.StaticDir, c.CgiDir, c.DevConsole
	cfg.Credentials, cfg.CredentialFiles, cfg.NoAuth = c.Credential, c.CredentialFile, c.NoAuth
	cfg.SSLCert, cfg.SSLKey, cfg.SSLCA = c.SSLCert, c.SSLKey, c.SSLCA
	cfg.RedirPort, cfg.UnixSocket, cfg.HeaderTimeout = c.RedirPort, c.UnixSocket, c.HeaderTimeout
	cfg.IdleConnTimeout, cfg.MaxConnsPerIP, cfg.CGITimeout = c.IdleConnTimeout, c.MaxConnsPerIP, c.CGITimeout
	return c.validateLimits(cfg)
}

// validateLimits checks the per-address and per-session limits.
func (c *cli) validateLimits(cfg *server.Config) error {
	var err error
	if cfg.ConnRate, err = ratelimit.ParseRate(c.ConnRate); err != nil {
		return fmt.Errorf("--conn-rate=%s%s", c.ConnRate, strings.TrimPrefix(err.Error(), strconv.Quote(c.ConnRate)))
	}
	if cfg.Limits.MsgRate, err = ratelimit.ParseRate(c.MsgRate); err != nil {
		return fmt.Errorf("--msg-rate=%s%s", c.MsgRate, strings.TrimPrefix(err.Error(), strconv.Quote(c.MsgRate)))
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("--idle-timeout=%s: must be 0 (never) or more", c.IdleTimeout)
	}
	cfg.Limits.MsgRateDrop = c.MsgRateMode == "drop"
	cfg.Limits.IdleTimeout = c.IdleTimeout
	return nil
}

// writers checks --writers and --writers-claim: they pick among
// authenticated users, so each needs a way to authenticate them.
func (c *cli) writers() ([]string, []auth.ClaimMatch, error) {
	var users []string
	for _, item := range c.Writers {
		for _, u := range strings.Split(item, ",") {
			if u = strings.TrimSpace(u); u != "" {
				users = append(users, u)
			}
		}
	}
	var claims []auth.ClaimMatch
	for _, s := range c.WritersClaim {
		m, err := auth.ParseClaimMatch(s)
		if err != nil {
			return nil, nil, fmt.Errorf("--writers-claim=%w", err)
		}
		claims = append(claims, m)
	}
	switch {
	case len(users)+len(claims) > 0 && !c.Writable:
		return nil, nil, errors.New("--writers and --writers-claim need --writable: they say who of the clients types")
	case len(users) > 0 && !c.namesUsers():
		return nil, nil, errors.New("--writers needs an authentication that names users (REMOTE_USER): --credential, --credential-file, --jwt-key, --jwks-url or --auth-header")
	case len(claims) > 0 && !c.verifiesTokens():
		return nil, nil, errors.New("--writers-claim needs JWT authentication (--jwt-key or --jwks-url), whose token carries the claims")
	}
	return users, claims, nil
}

// namesUsers reports whether an authentication that sets REMOTE_USER is
// configured.
func (c *cli) namesUsers() bool {
	return len(c.Credential)+len(c.CredentialFile) > 0 || c.verifiesTokens() || c.AuthHeader != ""
}

// verifiesTokens reports whether JWT authentication is configured.
func (c *cli) verifiesTokens() bool { return len(c.JWTKey) > 0 || c.JWKSURL != "" }

// subprotocols is --subprotocol with comma-separated items split.
func (c *cli) subprotocols() []string {
	var out []string
	for _, item := range c.Subprotocol {
		for _, p := range strings.Split(item, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// validateService checks the service flags and fills in cfg's part.
func (c *cli) validateService(cfg *server.Config) error {
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout=%s: must be more than 0", c.ShutdownTimeout)
	}
	if c.MetricsAddress != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddress); err != nil || port == "" {
			return fmt.Errorf("--metrics-address=%q: want HOST:PORT, such as 127.0.0.1:9180", c.MetricsAddress)
		}
	}
	proxies, err := server.ParseTrustedProxies(c.TrustedProxy)
	if err != nil {
		return err
	}
	cfg.ShutdownTimeout, cfg.MetricsAddress, cfg.TrustedProxies = c.ShutdownTimeout, c.MetricsAddress, proxies
	cfg.TrustedProxyHeader = c.TrustedProxyHeader
	return nil
}

// flagValues maps each flag's name to its value in the parsed model.
func flagValues(k *kong.Kong) map[string]any {
	out := map[string]any{}
	for _, f := range k.Model.Flags {
		if !inFile(f) || !f.Target.IsValid() {
			continue
		}
		out[f.Name] = f.Target.Interface()
	}
	return out
}

// authenticates reports whether a method that names the user is
// configured: then a writable terminal takes no access token.
func (c *cli) authenticates() bool {
	return len(c.Credential) > 0 || len(c.CredentialFile) > 0 || c.SSLCA != "" ||
		len(c.JWTKey) > 0 || c.JWKSURL != "" || c.AuthHeader != ""
}

// validateTokens checks the JWT and --auth-header flags and fills in
// cfg's part; the key files and the JWK Set are read by the server.
func (c *cli) validateTokens(cfg *server.Config) error {
	jwtOn := len(c.JWTKey) > 0 || c.JWKSURL != ""
	for _, f := range []struct {
		flag string
		set  bool
	}{
		{"--jwks-refresh", c.JWKSRefresh != time.Hour},
		{"--jwt-issuer", c.JWTIssuer != ""},
		{"--jwt-audience", c.JWTAudience != ""},
		{"--jwt-leeway", c.JWTLeeway != auth.DefaultJWTLeeway},
		{"--jwt-user-claim", c.JWTUserClaim != "sub"},
		{"--jwt-cookie", c.JWTCookie != auth.JWTCookie},
	} {
		if f.set && !jwtOn {
			return fmt.Errorf("%s needs --jwt-key or --jwks-url", f.flag)
		}
	}
	switch {
	case c.JWKSRefresh <= 0:
		return fmt.Errorf("--jwks-refresh=%s: must be more than 0", c.JWKSRefresh)
	case c.JWKSRefresh != time.Hour && c.JWKSURL == "":
		return errors.New("--jwks-refresh needs --jwks-url")
	case c.JWTLeeway < 0:
		return fmt.Errorf("--jwt-leeway=%s: must be 0 or more", c.JWTLeeway)
	case strings.TrimSpace(c.JWTUserClaim) == "":
		return errors.New("--jwt-user-claim: must name a claim")
	case !server.IsToken(c.JWTCookie):
		return fmt.Errorf("--jwt-cookie=%q: not a cookie name", c.JWTCookie)
	case c.AuthHeader != "" && !server.IsToken(c.AuthHeader):
		return fmt.Errorf("--auth-header=%q: not a header name", c.AuthHeader)
	case c.AuthHeader != "" && len(c.TrustedProxy) == 0:
		return errors.New("--auth-header needs --trusted-proxy: the header is believed only from those peers")
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--jwks-url=%q: want an http:// or https:// URL", c.JWKSURL)
		}
	}
	if jwtOn {
		cfg.JWT = &auth.JWTOptions{
			KeyFiles: c.JWTKey, JWKSURL: c.JWKSURL, JWKSRefresh: c.JWKSRefresh,
			Issuer: c.JWTIssuer, Audience: c.JWTAudience, Leeway: c.JWTLeeway,
			UserClaim: c.JWTUserClaim, Cookie: c.JWTCookie,
		}
	}
	cfg.AuthHeader = http.CanonicalHeaderKey(c.AuthHeader)
	return nil
}

// sessionFlags are the flags that shape a session or its program: an
// endpoint ([[endpoint]] table) may set each under its name, and takes the
// global value of every one it does not set. Everything else is
// server-level (listeners, TLS, authentication, origins, limits, logging,
// Redis) and the same for every endpoint. A flag added later becomes
// per-endpoint by adding its name here.
var sessionFlags = []string{
	"binary", "passstderr", "maxframesize", "closems", "pingms", "passenv", "subprotocol",
	"dir", "devconsole", "pty", "terminal", "writable", "reconnect", "shared", "max-clients",
	"cwd", "term", "title-format", "url-arg", "client-option",
	"broadcast", "replay", "linger", "client-queue", "restart", "max-groups", "envelope",
	"msg-rate", "msg-rate-mode", "idle-timeout", "framing", "compress", "scrollback", "no-transfer",
}

// clusterFlags are the server-level flags that a broadcast endpoint's
// groups are spread with (--redis): it takes them from the global flags.
var clusterFlags = []string{"redis", "redis-password-file", "redis-prefix", "lease", "redis-buffer", "redis-stream-bytes", "redis-history-ttl"}

// endpointKinds says what the endpoints serve, for the checks of the global
// flags that refer to them (--no-auth, --token-file, --redis).
type endpointKinds struct {
	writableTerminal, broadcast bool
}

// endpointSpec is one endpoint as given, before it is checked.
type endpointSpec struct {
	path    string
	command []string
	keys    map[string]configEntry // session flags by name
}

// endpointSpecs lists the config file's [[endpoint]] tables, then the
// --endpoint flags.
func (c *cli) endpointSpecs() ([]endpointSpec, error) {
	var specs []endpointSpec
	for _, ep := range c.fileEndpoints {
		specs = append(specs, endpointSpec{path: ep.path, command: ep.command, keys: ep.keys})
	}
	for _, item := range c.Endpoint {
		path, command, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("--endpoint=%q: want PATH=COMMAND, such as --endpoint='/echo=cat'", item)
		}
		if err := checkEndpointPath(path); err != nil {
			return nil, fmt.Errorf("--endpoint=%q: %w", item, err)
		}
		args, err := splitCommand(command)
		if err != nil {
			return nil, fmt.Errorf("--endpoint=%q: %w", item, err)
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("--endpoint=%q: no command after the path", item)
		}
		specs = append(specs, endpointSpec{path: path, command: args})
	}
	return specs, nil
}

// endpoints checks every endpoint with the code that checks the global
// flags (serverConfig) and returns their settings. Each is checked as a
// command line of its own: the global session flags, then the endpoint's
// keys over them; server-level flags keep their defaults there, since they
// are checked once, globally. An error names the endpoint's path.
func (c *cli) endpoints(k *kong.Kong, log io.Writer) ([]server.Endpoint, error) {
	specs, err := c.endpointSpecs()
	if err != nil || len(specs) == 0 {
		return nil, err
	}
	catchAll := len(c.Command) > 0 || c.Dir != ""
	seen := map[string]bool{}
	out := make([]server.Endpoint, 0, len(specs))
	for _, spec := range specs {
		if seen[spec.path] || (spec.path == "/" && catchAll) {
			return nil, fmt.Errorf("endpoint %s: the path is given twice (COMMAND or --dir is the / endpoint)", spec.path)
		}
		seen[spec.path] = true
		ec, ek, err := endpointCLI(k, spec)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", spec.path, err)
		}
		if len(ec.Command) == 0 && ec.Dir == "" {
			return nil, fmt.Errorf(`endpoint %s: no command: give it command = ["..."] (or dir)`, spec.path)
		}
		cfg, err := ec.serverConfig(ek, log)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", spec.path, err)
		}
		c.serves.writableTerminal = c.serves.writableTerminal || (cfg.Terminal != nil && cfg.Terminal.Writable)
		c.serves.broadcast = c.serves.broadcast || cfg.Broadcast != nil
		out = append(out, server.Endpoint{Path: spec.path, Config: cfg})
	}
	return out, nil
}

// endpointCLI is the command line of one endpoint: a cli parsed by kong with
// the endpoint's keys as its only source (so kong maps and checks them as it
// does flags), then the global value of every session flag the endpoint does
// not set, copied by name from global's model.
func endpointCLI(global *kong.Kong, spec endpointSpec) (*cli, *kong.Kong, error) {
	ec := new(cli)
	ek, err := kong.New(ec, kong.Name("wsbridge"), kong.Exit(func(int) {}),
		kong.Resolvers(kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
			if e, ok := spec.keys[f.Name]; ok {
				return e.value, nil
			}
			return nil, nil
		})))
	if err != nil {
		return nil, nil, &parserError{err}
	}
	if _, err := ek.Parse(nil); err != nil {
		return nil, nil, err
	}
	inherit := func(names []string) {
		for _, name := range names {
			if _, set := spec.keys[name]; set {
				continue
			}
			from, to := modelFlag(global, name), modelFlag(ek, name)
			if from != nil && to != nil {
				to.Target.Set(from.Target)
			}
		}
	}
	inherit(sessionFlags)
	if ec.Broadcast {
		inherit(clusterFlags)
	}
	ec.Command = spec.command
	return ec, ek, nil
}

// modelFlag is the flag of k's model named name, or nil.
func modelFlag(k *kong.Kong, name string) *kong.Flag {
	for _, f := range k.Model.Flags {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// splitCommand splits an --endpoint command into arguments as a POSIX shell
// would, without running one: blanks separate words; single quotes keep
// everything up to the next one; double quotes keep everything but \", \\,
// \$ and \` escapes; a backslash outside quotes keeps the next character.
// Nothing is expanded ($VAR, globs, ~ stay as they are).
func splitCommand(s string) ([]string, error) {
	var args []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
		case ch == '\\':
			inWord = true
			if i+1 == len(s) {
				return nil, errors.New("the command ends with a backslash")
			}
			i++
			if s[i] != '\n' { // a backslash-newline joins lines
				word.WriteByte(s[i])
			}
		case ch == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("a single quote is not closed")
			}
			word.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case ch == '"':
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				word.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("a double quote is not closed")
			}
		default:
			inWord = true
			word.WriteByte(ch)
		}
	}
	if inWord {
		args = append(args, word.String())
	}
	return args, nil
}
