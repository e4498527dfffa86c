package auth

import (
	"net/http"
	"strings"
)

// withoutCookie removes the cookie name from h's Cookie headers and keeps
// every other one exactly as the client sent it (net/http's parsed cookies
// would drop what it cannot parse and unquote values, and the program
// sees HTTP_COOKIE).
func withoutCookie(h http.Header, name string) {
	found := false
	var kept []string
	for _, line := range h.Values("Cookie") {
		for _, part := range strings.Split(line, ";") {
			k, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == name {
				found = true
				continue
			}
			if strings.TrimSpace(part) != "" {
				kept = append(kept, strings.TrimSpace(part))
			}
		}
	}
	if found {
		h.Del("Cookie")
		if len(kept) > 0 {
			h.Set("Cookie", strings.Join(kept, "; "))
		}
	}
}

// hasCookie reports whether r carries the cookie name.
func hasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}
