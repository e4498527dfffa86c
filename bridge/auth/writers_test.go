package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/auth"
	"github.com/wsbridge/wsbridge/bridge/session"
)

func TestParseClaimMatch(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "role", "role:", ":admin", "a..b:x"} {
		if _, err := auth.ParseClaimMatch(bad); err == nil {
			t.Errorf("ParseClaimMatch(%q) accepted", bad)
		}
	}
	m, err := auth.ParseClaimMatch("realm_access.roles:admin")
	if err != nil || m.String() != "realm_access.roles:admin" {
		t.Fatalf("ParseClaimMatch = %v, %v", m, err)
	}
}

// TestWritersMiddleware: the users of --writers and the tokens carrying a
// --writers-claim type; everyone else is marked read-only.
func TestWritersMiddleware(t *testing.T) {
	t.Parallel()
	match := func(s string) auth.ClaimMatch {
		m, err := auth.ParseClaimMatch(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w := &auth.Writers{
		Users:  []string{"alice", "bob"},
		Claims: []auth.ClaimMatch{match("role:admin"), match("realm_access.roles:ops"), match("scope:term:write")},
	}
	for _, tc := range []struct {
		name     string
		env      []string
		readOnly bool
	}{
		{"listed user", []string{"REMOTE_USER=alice", "AUTH_TYPE=Basic"}, false},
		{"other user", []string{"REMOTE_USER=carol", "AUTH_TYPE=Basic"}, true},
		{"nobody", nil, true},
		{"claim string", []string{"REMOTE_USER=dave", `JWT_CLAIMS={"sub":"dave","role":"admin"}`}, false},
		{"claim other value", []string{"REMOTE_USER=dave", `JWT_CLAIMS={"sub":"dave","role":"user"}`}, true},
		{"nested array claim", []string{"REMOTE_USER=erin", `JWT_CLAIMS={"realm_access":{"roles":["dev","ops"]}}`}, false},
		{"space-separated scope", []string{"REMOTE_USER=fay", `JWT_CLAIMS={"scope":"openid term:write"}`}, false},
		{"claim missing", []string{"REMOTE_USER=gus", `JWT_CLAIMS={"sub":"gus"}`}, true},
		{"claims not JSON", []string{"REMOTE_USER=hal", `JWT_CLAIMS=role:admin`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got *bool
			h := w.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				ro := session.IsReadOnly(r)
				got = &ro
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r = bridge.WithEnv(r, tc.env...)
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got == nil || *got != tc.readOnly {
				t.Fatalf("read-only = %v, want %v", got, tc.readOnly)
			}
		})
	}
}
