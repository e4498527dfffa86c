package bridge

import (
	"strings"
	"testing"
)

func TestHeaderEnvName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "": dropped
	}{
		{"User-Agent", "HTTP_USER_AGENT"},
		{"Dnt", "HTTP_DNT"},
		{"X-Remote-User", "HTTP_X_REMOTE_USER"},
		{"x-remote-user", "HTTP_X_REMOTE_USER"},
		{"X-123", "HTTP_X_123"},
		{"X-Remote.User", ""},
		{"X_Remote_User", ""},
		{"X-Remote~User", ""},
		{"X-Remote!User", ""},
		{"x-custom.bad", ""},
		{"Proxy", ""},
		{"Host", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := headerEnvName(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%q -> %q %v, want %q", tt.in, got, ok, tt.want)
		}
	}
	if got := CleanHeaderValue("a\nb\x00c\x7fd\te"); got != "abcde" {
		t.Errorf("CleanHeaderValue: %q", got)
	}
}

func TestDedupeEnv(t *testing.T) {
	t.Parallel()
	got := dedupeEnv([]string{"A=1", "B=2", "A=3", "C=", "B=4"})
	if strings.Join(got, " ") != "A=3 B=4 C=" {
		t.Fatalf("got %v", got)
	}
}
