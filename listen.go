package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// defaultPort is --port when not given: 80, or 443 with --ssl.
func (c *cli) defaultPort() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.SSL:
		return 443
	default:
		return 80
	}
}

// listenAll opens every listener: TCP on --address/--port (TLS with --ssl),
// plain TCP on --redirport, and --unixsocket. With --unixsocket alone (no
// --port, no --address) only the socket is opened.
func (c *cli) listenAll(tlsConfig *tls.Config) ([]net.Listener, error) {
	var all []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range all {
			l.Close()
		}
		return nil, err
	}
	if c.UnixSocket == "" || c.Port != 0 || len(c.Address) > 0 {
		tcp, err := c.listen()
		if err != nil {
			return fail(err)
		}
		for _, l := range tcp {
			if tlsConfig != nil {
				l = tls.NewListener(l, tlsConfig)
			}
			all = append(all, l)
		}
	}
	if c.RedirPort != 0 {
		addrs := c.Address
		if len(addrs) == 0 {
			addrs = []string{""}
		}
		for _, a := range addrs {
			l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(c.RedirPort)))
			if err != nil {
				return fail(fmt.Errorf("--address=%q --redirport=%d: %w", a, c.RedirPort, err))
			}
			all = append(all, l)
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

// listen opens one TCP listener per --address (all interfaces if none).
func (c *cli) listen() ([]net.Listener, error) {
	port := c.defaultPort()
	addrs := c.Address
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
