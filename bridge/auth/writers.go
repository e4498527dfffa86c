package auth

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// Writers decide who may type into a writable terminal once authentication
// has said who the client is (REMOTE_USER, JWT_CLAIMS): the users named by
// --writers and those whose token carries a --writers-claim. Everyone else
// who got in watches: the request is marked read-only. It must run inside
// the authentication middleware, which sets those variables.
type Writers struct {
	Users  []string     // --writers
	Claims []ClaimMatch // --writers-claim
	Logger *slog.Logger
}

// ClaimMatch is one --writers-claim: NAME:VALUE, the claim at Path (a
// dotted path into nested objects, such as realm_access.roles) equal to
// Value, or holding it in an array or a space-separated string (OAuth's
// scope).
type ClaimMatch struct {
	Path  []string
	Value string
}

// ParseClaimMatch reads NAME:VALUE.
func ParseClaimMatch(s string) (ClaimMatch, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok || name == "" || value == "" {
		return ClaimMatch{}, fmt.Errorf("%q: want CLAIM:VALUE, such as role:admin", s)
	}
	path := strings.Split(name, ".")
	if slices.Contains(path, "") {
		return ClaimMatch{}, fmt.Errorf("%q: an empty part in the claim's name", s)
	}
	return ClaimMatch{Path: path, Value: value}, nil
}

func (m ClaimMatch) String() string { return strings.Join(m.Path, ".") + ":" + m.Value }

// matches reports whether claims (the JSON object JWT_CLAIMS) satisfy m.
func (m ClaimMatch) matches(claims map[string]any) bool {
	var v any = claims
	for _, p := range m.Path {
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		v = obj[p]
	}
	switch v := v.(type) {
	case string:
		return v == m.Value || slices.Contains(strings.Fields(v), m.Value)
	case []any:
		return slices.ContainsFunc(v, func(e any) bool { s, ok := e.(string); return ok && s == m.Value })
	case bool:
		return fmt.Sprint(v) == m.Value
	case float64:
		return fmt.Sprint(v) == m.Value
	}
	return false
}

// Middleware marks the requests of those who may not type read-only.
func (w *Writers) Middleware(next http.Handler) http.Handler {
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		user, claims := identity(r)
		if !w.allows(user, claims) {
			log.Log(r.Context(), session.LevelDebug, "watcher: not one of --writers or --writers-claim", "remote", r.RemoteAddr, "user", user)
			r = session.WithReadOnly(r)
		}
		next.ServeHTTP(rw, r)
	})
}

func (w *Writers) allows(user string, claims map[string]any) bool {
	if user != "" && slices.Contains(w.Users, user) {
		return true
	}
	return claims != nil && slices.ContainsFunc(w.Claims, func(m ClaimMatch) bool { return m.matches(claims) })
}

// identity is who authentication said the client is: REMOTE_USER and the
// verified claims of its token, from the variables it set for the program.
func identity(r *http.Request) (user string, claims map[string]any) {
	for _, kv := range bridge.ExtraEnv(r) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "REMOTE_USER":
			user = v
		case "JWT_CLAIMS":
			claims = nil
			if json.Unmarshal([]byte(v), &claims) != nil {
				claims = nil
			}
		}
	}
	return user, claims
}
