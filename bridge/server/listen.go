package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// listeners are what the daemon serves on.
type listeners struct {
	web, metrics []net.Listener
	activated    bool // passed by systemd
}

func (ls listeners) close() {
	for _, l := range append(ls.web, ls.metrics...) {
		l.Close()
	}
}

// limitFunc wraps a TCP listener in the per-address connection limit;
// plain is false when TLS goes on top of it.
type limitFunc func(l net.Listener, plain bool) net.Listener

// openListeners takes the sockets systemd passed, if it did (then --port and
// --address are not used), else listens on --port and --address; and opens
// --metrics-address unless systemd passed a "metrics" socket. Every web
// listener goes through limit, under TLS: a connection over its peer's
// limit costs no handshake.
func openListeners(cfg *Config, tlsConfig *tls.Config, limit limitFunc) (listeners, error) {
	var ls listeners
	web, metrics, err := activatedListeners()
	if err != nil {
		return ls, err
	}
	ls.web, ls.metrics, ls.activated = web, metrics, len(web) > 0
	if ls.activated {
		for i, l := range ls.web {
			ls.web[i] = limit(l, tlsConfig == nil)
			if tlsConfig != nil {
				ls.web[i] = tls.NewListener(ls.web[i], tlsConfig)
			}
		}
	}
	if !ls.activated {
		if ls.web, err = listenAll(cfg, tlsConfig, limit); err != nil {
			return ls, err
		}
	}
	if cfg.MetricsAddress != "" && len(ls.metrics) == 0 {
		l, err := net.Listen("tcp", cfg.MetricsAddress)
		if err != nil {
			ls.close()
			return listeners{}, fmt.Errorf("--metrics-address=%q: %w", cfg.MetricsAddress, err)
		}
		ls.metrics = append(ls.metrics, l)
	}
	return ls, nil
}

// unusedUnderActivation names the listening flags that are set (on the
// command line, in WSBRIDGE_* or in the config file) but not used because
// systemd passed the sockets: a config file written for a hand start says
// address = ["127.0.0.1"], and the unit's ListenStream= may well be every
// interface.
func unusedUnderActivation(c *Config) []string {
	var set []string
	if len(c.Addresses) > 0 {
		set = append(set, "--address="+strings.Join(c.Addresses, ","))
	}
	if c.Port != 0 {
		set = append(set, "--port="+strconv.Itoa(c.Port))
	}
	if c.RedirPort != 0 {
		set = append(set, "--redirport="+strconv.Itoa(c.RedirPort))
	}
	if c.UnixSocket != "" {
		set = append(set, "--unixsocket="+c.UnixSocket)
	}
	return set
}

// listenAll opens every listener: TCP on --address/--port (TLS with --ssl),
// plain TCP on --redirport, and --unixsocket. With --unixsocket alone (no
// --port, no --address) only the socket is opened.
func listenAll(c *Config, tlsConfig *tls.Config, limit limitFunc) ([]net.Listener, error) {
	var all []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range all {
			l.Close()
		}
		return nil, err
	}
	if c.UnixSocket == "" || c.Port != 0 || len(c.Addresses) > 0 {
		tcp, err := listenTCP(c)
		if err != nil {
			return fail(err)
		}
		for _, l := range tcp {
			l = limit(l, tlsConfig == nil)
			if tlsConfig != nil {
				l = tls.NewListener(l, tlsConfig)
			}
			all = append(all, l)
		}
	}
	if c.RedirPort != 0 {
		addrs := c.Addresses
		if len(addrs) == 0 {
			addrs = []string{""}
		}
		for _, a := range addrs {
			l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(c.RedirPort)))
			if err != nil {
				return fail(fmt.Errorf("--address=%q --redirport=%d: %w", a, c.RedirPort, err))
			}
			all = append(all, limit(l, true))
		}
	}
	if c.UnixSocket != "" {
		l, err := listenUnix(c.UnixSocket)
		if err != nil {
			return fail(err)
		}
		all = append(all, l)
	}
	return all, nil
}

// listenUnix listens on a unix socket at path. A socket file left behind by
// a server that is gone is replaced; one a server still answers on is an
// error, and so is any other kind of file there.
func listenUnix(path string) (net.Listener, error) {
	if info, err := os.Lstat(path); err == nil {
		if info.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("--unixsocket=%s: exists and is not a socket", path)
		}
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
			return nil, fmt.Errorf("--unixsocket=%s: a server is listening there already", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--unixsocket=%s: remove stale socket: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--unixsocket=%s: %w", path, err)
	}
	return l, nil
}

// listenTCP opens one TCP listener per --address (all interfaces if none).
func listenTCP(c *Config) ([]net.Listener, error) {
	port := c.ListenPort()
	addrs := c.Addresses
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	var listeners []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, fmt.Errorf("--address=%q --port=%d: %w", a, port, err)
		}
		listeners = append(listeners, l)
	}
	return listeners, nil
}
