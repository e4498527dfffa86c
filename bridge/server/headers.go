package server

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
)

// Header is one --header, --header-ws or --header-http.
type Header struct{ Name, Value string }

// ParseHeaders reads "Name: value" items, refusing what would break the
// response: a name that is not an HTTP token, a value with control
// characters. Errors name flag.
func ParseHeaders(flag string, items []string) ([]Header, error) {
	var out []Header
	for _, item := range items {
		name, value, ok := strings.Cut(item, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !IsToken(name) {
			return nil, fmt.Errorf("%s=%q: want \"Name: value\"", flag, item)
		}
		for _, c := range []byte(value) {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return nil, fmt.Errorf("%s=%q: control character in the value", flag, item)
			}
		}
		out = append(out, Header{textproto.CanonicalMIMEHeaderKey(name), value})
	}
	return out, nil
}

// IsToken reports whether s is an HTTP token (RFC 9110), as header names
// and WebSocket subprotocol names must be.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// withHeaders adds --header to every response, --header-ws to the responses
// to WebSocket upgrades (the 101 included) and --header-http to the others,
// refusals included. They are set before anything else answers.
func withHeaders(all, ws, plain []Header, next http.Handler) http.Handler {
	if len(all)+len(ws)+len(plain) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		add := func(list []Header) {
			for _, e := range list {
				h.Add(e.Name, e.Value)
			}
		}
		add(all)
		if bridge.IsUpgrade(r) {
			add(ws)
		} else {
			add(plain)
		}
		next.ServeHTTP(w, r)
	})
}
