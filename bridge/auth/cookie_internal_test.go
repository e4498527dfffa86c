package auth

import (
	"net/http"
	"testing"
)

func TestWithoutCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string // "-": no Cookie header left
	}{
		{[]string{`a=1; wsbridge_token=x; b="quoted value"`}, `a=1; b="quoted value"`},
		{[]string{`wsbridge_token=x`}, "-"},
		{[]string{`a=1`, `wsbridge_token=x; odd{}=y`}, `a=1; odd{}=y`},
		{[]string{`a=1; b=2`}, `a=1; b=2`}, // untouched without the cookie
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": tt.in}
		withoutCookie(h, "wsbridge_token")
		got := h.Get("Cookie")
		if len(h.Values("Cookie")) == 0 {
			got = "-"
		}
		if got != tt.want || len(h.Values("Cookie")) > 1 {
			t.Errorf("%q: %q, want %q", tt.in, h.Values("Cookie"), tt.want)
		}
	}
}
