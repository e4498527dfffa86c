package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/template"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/auth"
	"github.com/wsbridge/wsbridge/bridge/broadcast"
	"github.com/wsbridge/wsbridge/bridge/broadcast/cluster"
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
		{"--reconnect", c.Reconnect != 0},
		{"--shared", c.Shared},
		{"--max-clients", c.MaxClients != 0 && !c.Broadcast},
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
	case c.NoAuth && !(c.Terminal && c.Writable):
		return errors.New("--no-auth needs --terminal --writable: only a writable terminal takes an access token")
	case c.NoAuth && (len(c.Credential) > 0 || len(c.CredentialFile) > 0 || c.SSLCA != ""):
		return errors.New("--no-auth cannot be combined with --credential, --credential-file or --sslca: they authenticate, and no access token is made then")
	case c.TokenFile != "" && !(c.Terminal && c.Writable):
		return errors.New("--token-file needs --terminal --writable: only a writable terminal takes an access token")
	case c.TokenFile != "" && c.NoAuth:
		return errors.New("--token-file cannot be combined with --no-auth: one sets the access token, the other turns it off")
	case c.TokenFile != "" && (len(c.Credential) > 0 || len(c.CredentialFile) > 0 || c.SSLCA != ""):
		return errors.New("--token-file cannot be combined with --credential, --credential-file or --sslca: they authenticate, and no access token is used then")
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
	cfg.PTY, cfg.Term, cfg.Cwd, cfg.URLArgs, cfg.Once = c.PTY, c.Term, c.cwd(), c.URLArg, c.Once
	if c.Terminal {
		cfg.Terminal = &server.TerminalConfig{
			Writable:      c.Writable,
			NoTransfer:    c.NoTransfer,
			Reconnect:     c.Reconnect,
			Shared:        c.Shared,
			MaxClients:    c.MaxClients,
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
		{"--redis", c.Redis != ""},
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

// redisOptions checks the --redis flags; nil without --redis.
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
	for _, n := range needsRedis {
		if n.set && c.Redis == "" {
			return nil, fmt.Errorf("%s needs --redis", n.flag)
		}
	}
	if c.Redis == "" {
		return nil, nil
	}
	var password string
	if c.RedisPasswordFile != "" {
		b, err := os.ReadFile(c.RedisPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--redis-password-file: %w", err)
		}
		password, _, _ = strings.Cut(string(b), "\n")
		password = strings.TrimSuffix(password, "\r")
	}
	switch _, err := cluster.ParseURL(c.Redis, password); {
	case err != nil:
		return nil, fmt.Errorf("--redis=%s: %w", redactedURL(c.Redis), err)
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
	return &cluster.Options{URL: c.Redis, Password: password, Prefix: c.RedisPrefix, Lease: c.Lease, Buffer: c.RedisBuffer, Settings: settings,
		StreamBytes: c.RedisStreamBytes, HistoryTTL: c.RedisHistoryTTL}, nil
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
	cfg.Dir, cfg.StaticDir, cfg.CGIDir, cfg.DevConsole = c.Dir, c.StaticDir, c.CgiDir, c.DevConsole
	cfg.Credentials, cfg.CredentialFiles, cfg.NoAuth = c.Credential, c.CredentialFile, c.NoAuth
	cfg.SSLCert, cfg.SSLKey, cfg.SSLCA = c.SSLCert, c.SSLKey, c.SSLCA
	cfg.RedirPort, cfg.UnixSocket, cfg.HeaderTimeout = c.RedirPort, c.UnixSocket, c.HeaderTimeout
	cfg.IdleConnTimeout, cfg.MaxConnsPerIP, cfg.CGITimeout = c.IdleConnTimeout, c.MaxConnsPerIP, c.CGITimeout
	return nil
}

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
