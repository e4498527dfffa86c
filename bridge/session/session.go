// Package session is the contract between the gate (package bridge) and the
// session kinds: what an endpoint runs, the admitted connection the gate
// hands a kind, the Kind interface and the close codes and log levels both
// sides speak.
package session

import (
	"errors"
	"net"
	"strings"
)

// Command is the program each session runs.
type Command struct {
	Path string   // resolved executable
	Args []string // argv, Args[0] included
}

// Endpoint is what one request runs, and the CGI names for it.
type Endpoint struct {
	Command Command
	// ScriptName, PathInfo and PathTranslated become the variables of the
	// same names.
	ScriptName, PathInfo, PathTranslated string
}

// ErrNoEndpoint from an endpoint lookup answers the request with 404.
var ErrNoEndpoint = errors.New("no such endpoint")

// SplitHostPort splits "host:port", "[v6]:port" or a bare host; a bare
// host comes back without brackets and with an empty port.
func SplitHostPort(addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return strings.Trim(addr, "[]"), ""
	}
	return host, port
}
