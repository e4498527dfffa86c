package main

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
)

// extraHeader is one --header, --header-ws or --header-http.
type extraHeader struct{ name, value string }

// parseHeaders reads "Name: value" items, refusing what would break the
// response: a name that is not an HTTP token, a value with control
// characters.
func parseHeaders(flag string, items []string) ([]extraHeader, error) {
	var out []extraHeader
	for _, item := range items {
		name, value, ok := strings.Cut(item, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !isToken(name) {
			return nil, fmt.Errorf("%s=%q: want \"Name: value\"", flag, item)
		}
		for _, c := range []byte(value) {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return nil, fmt.Errorf("%s=%q: control character in the value", flag, item)
			}
		}
		out = append(out, extraHeader{textproto.CanonicalMIMEHeaderKey(name), value})
	}
	return out, nil
}

func isToken(s string) bool {
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
func withHeaders(all, ws, plain []extraHeader, next http.Handler) http.Handler {
	if len(all)+len(ws)+len(plain) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		add := func(list []extraHeader) {
			for _, e := range list {
				h.Add(e.name, e.value)
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
