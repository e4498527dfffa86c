package terminal_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/terminal"
)

func TestNewToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		tok := terminal.NewToken()
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(tok) {
			t.Fatalf("token %q: want 128 bits in hex", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q twice", tok)
		}
		seen[tok] = true
	}
}

func TestTokenLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		shared bool
		token  string
		path   string
		key    string
		want   string // the session found, "" for none
	}{
		{"its own path", false, "t1", "/a", "/", "t1"},
		{"another path", false, "t1", "/b", "/", ""},
		{"unknown token", false, "nope", "/a", "/", ""},
		{"no token, not shared: a new session", false, "", "/a", "/", ""},
		{"no token, shared: the endpoint's session", true, "", "/b", "/", "t1"},
		{"no token, shared, other endpoint", true, "", "/a", "/other.sh", ""},
		{"token of a shared session, other path", true, "t1", "/b", "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := terminal.New(terminal.Options{Shared: tt.shared, Reconnect: time.Minute})
			st.FakeSession("t1", "/a", "/")
			got, ok := st.Find(tt.token, tt.path, tt.key)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("Find(%q, %q, %q) = %q, %v; want %q", tt.token, tt.path, tt.key, got, ok, tt.want)
			}
		})
	}
	st := terminal.New(terminal.Options{Shared: true})
	st.FakeSession("t1", "/a", "/")
	st.Forget("t1")
	if _, ok := st.Find("t1", "/a", "/"); ok {
		t.Fatal("an ended session is still found by token")
	}
	if _, ok := st.Find("", "/a", "/"); ok {
		t.Fatal("an ended shared session is still joined")
	}
}
