package bridge

import (
	"strings"
	"testing"
)

func TestHeaderEnvName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"User-Agent":   "HTTP_USER_AGENT",
		"x-custom.bad": "HTTP_X_CUSTOM_BAD",
		"Dnt":          "HTTP_DNT",
	} {
		if got := headerEnvName(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
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
