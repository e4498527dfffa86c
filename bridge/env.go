package bridge

import (
	"context"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// reverseLookupTimeout bounds --reverselookup; a slow resolver must not hold
// the handshake.
const reverseLookupTimeout = 2 * time.Second

// passEnv picks the daemon's variables named by --passenv, so nothing else of
// the daemon's environment reaches a child.
func passEnv(names []string) []string {
	var env []string
	for _, name := range names {
		name = strings.TrimSpace(name)
		if v, ok := os.LookupEnv(name); ok && name != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// serverEnviron is the part of a connection's environment that every
// client of an endpoint shares (session.Gate.ServerEnv): the --passenv
// variables and the CGI variables of the server and the endpoint.
func (h *Handler) serverEnviron(r *http.Request, ep session.Endpoint) []string {
	serverName, serverPort := serverNamePort(r)
	env := append(make([]string, 0, len(h.parentEnv)+8), h.parentEnv...)
	return dedupeEnv(append(env,
		"SERVER_SOFTWARE="+h.opts.ServerSoftware,
		"GATEWAY_INTERFACE=CGI/1.1",
		"SERVER_PROTOCOL="+r.Proto,
		"SERVER_NAME="+serverName,
		"SERVER_PORT="+serverPort,
		"SCRIPT_NAME="+ep.ScriptName,
		"PATH_INFO="+ep.PathInfo,
		"PATH_TRANSLATED="+ep.PathTranslated,
	))
}

// serverNamePort are SERVER_NAME, from the Host header, and SERVER_PORT,
// the port the connection came in on.
func serverNamePort(r *http.Request) (name, port string) {
	name, port = SplitHostPort(r.Host)
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p := SplitHostPort(local.String()); p != "" {
			port = p
		}
	}
	return name, port
}

// environ builds the child's environment the way a CGI server would (RFC
// 3875, plus websocketd's additions): the --passenv variables, the request's
// meta-variables and every request header as HTTP_<NAME>.
func (h *Handler) environ(r *http.Request, id string, ep session.Endpoint) []string {
	env := make([]string, 0, len(h.parentEnv)+24+len(r.Header))
	env = append(env, h.parentEnv...)
	add := func(k, v string) { env = append(env, k+"="+v) }

	remoteAddr, remotePort := SplitHostPort(r.RemoteAddr)
	if remoteAddr == "" || remoteAddr == "@" {
		remoteAddr = "unix-socket"
	}
	remoteHost := remoteAddr
	if h.opts.ReverseLookup && net.ParseIP(remoteAddr) != nil {
		ctx, cancel := context.WithTimeout(r.Context(), reverseLookupTimeout)
		if names, err := net.DefaultResolver.LookupAddr(ctx, remoteAddr); err == nil && len(names) > 0 {
			remoteHost = strings.TrimSuffix(names[0], ".")
		}
		cancel()
	}
	serverName, serverPort := serverNamePort(r)

	add("SERVER_SOFTWARE", h.opts.ServerSoftware)
	add("GATEWAY_INTERFACE", "CGI/1.1")
	add("SERVER_PROTOCOL", r.Proto)
	add("SERVER_NAME", serverName)
	add("SERVER_PORT", serverPort)
	add("REQUEST_METHOD", r.Method)
	add("REQUEST_URI", r.RequestURI)
	add("SCRIPT_NAME", ep.ScriptName)
	add("PATH_INFO", ep.PathInfo)
	add("PATH_TRANSLATED", ep.PathTranslated)
	add("QUERY_STRING", r.URL.RawQuery)
	add("REMOTE_ADDR", remoteAddr)
	add("REMOTE_HOST", remoteHost)
	add("REMOTE_PORT", remotePort)
	// Set even when empty so a value can never come from elsewhere.
	add("REMOTE_USER", "")
	add("AUTH_TYPE", "")
	add("UNIQUE_ID", id)
	if r.TLS != nil {
		add("HTTPS", "on")
	}

	// Go keeps Host out of the header map (websocketd loses HTTP_HOST).
	add("HTTP_HOST", CleanHeaderValue(r.Host))
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key, ok := headerEnvName(name)
		if !ok {
			continue
		}
		values := r.Header[name]
		cleaned := make([]string, len(values))
		for i, v := range values {
			cleaned[i] = CleanHeaderValue(v)
		}
		add(key, strings.Join(cleaned, ", "))
	}
	// Set by middleware in front of the handler (authentication, trusted
	// proxies); they override what the handler derived itself.
	env = append(env, extraEnv(r)...)
	return dedupeEnv(env)
}

type extraEnvKey struct{}

// WithEnv returns r carrying extra variables for the child's environment,
// given as "NAME=value". Middleware in front of the Handler uses it to pass
// what it learned: REMOTE_USER and AUTH_TYPE after authentication, a
// REMOTE_ADDR from a trusted proxy. Later values win.
func WithEnv(r *http.Request, kv ...string) *http.Request {
	all := append(ExtraEnv(r), kv...)
	return r.WithContext(context.WithValue(r.Context(), extraEnvKey{}, all))
}

// ExtraEnv returns a copy of the variables WithEnv attached to r, in order,
// for middleware that wants to see what an earlier one set (and for tests).
func ExtraEnv(r *http.Request) []string { return append([]string(nil), extraEnv(r)...) }

// extraEnv is ExtraEnv without the copy, for reading only.
func extraEnv(r *http.Request) []string {
	extra, _ := r.Context().Value(extraEnvKey{}).([]string)
	return extra
}

// headerEnvName is the one rule for which request headers reach a
// program's environment, sessions and CGI alike, and under what name: upper
// case, '-' becomes '_'. Only a name of letters, digits and '-' qualifies:
// '_', '.', '~' and the other token characters would map onto the same
// variable as the dashed name ("X_Remote_User", "X-Remote.User" as
// "X-Remote-User") and could override a header a proxy set; Apache and nginx
// drop such names too. Proxy (the httpoxy hole: HTTP_PROXY is obeyed by many
// tools) and Host (HTTP_HOST comes from the request's Host) never qualify.
func headerEnvName(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	b := make([]byte, 0, len("HTTP_")+len(name))
	b = append(b, "HTTP_"...)
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-':
			c = '_'
		default:
			return "", false
		}
		b = append(b, c)
	}
	key := string(b)
	if key == "HTTP_PROXY" || key == "HTTP_HOST" {
		return "", false
	}
	return key, true
}

// CleanHeaderValue removes control characters, which have no business in an
// environment variable (a newline could forge another line in a shell that
// prints its environment).
func CleanHeaderValue(v string) string {
	clean := true
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return v
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

// SplitHostPort splits "host:port", "[v6]:port" or a bare host; a bare
// host comes back without brackets and with an empty port.
func SplitHostPort(addr string) (host, port string) { return session.SplitHostPort(addr) }

// dedupeEnv keeps the last value of each variable: a later, more specific
// setting wins, and execve must not see a name twice (getenv would return
// the first).
func dedupeEnv(env []string) []string {
	seen := make(map[string]int, len(env))
	out := env[:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}
