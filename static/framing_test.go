package static_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/wsbridge/wsbridge/static"
)

func TestDenyFraming(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		csp, xfo []string
		ifUnset  bool // DenyFramingUnlessSet instead
		wantCSP  []string
		wantXFO  []string
	}{
		{name: "nothing set", wantCSP: []string{"frame-ancestors 'none'"}, wantXFO: []string{"DENY"}},
		{name: "merged into the policy", csp: []string{"default-src 'self'; "}, wantCSP: []string{"default-src 'self'; frame-ancestors 'none'"}, wantXFO: []string{"DENY"}},
		{name: "first policy only", csp: []string{"default-src 'self'", "script-src 'none'"}, wantCSP: []string{"default-src 'self'; frame-ancestors 'none'", "script-src 'none'"}, wantXFO: []string{"DENY"}},
		{name: "framing allowed elsewhere is replaced", csp: []string{"Frame-Ancestors https://portal.example; img-src *"}, xfo: []string{"SAMEORIGIN"}, wantCSP: []string{"img-src *; frame-ancestors 'none'"}, wantXFO: []string{"DENY"}},
		{name: "own X-Frame-Options kept", ifUnset: true, xfo: []string{"SAMEORIGIN"}, wantXFO: []string{"SAMEORIGIN"}},
		{name: "own frame-ancestors kept", ifUnset: true, csp: []string{"frame-ancestors https://portal.example"}, wantCSP: []string{"frame-ancestors https://portal.example"}},
		{name: "other policy merged", ifUnset: true, csp: []string{"default-src 'none'"}, wantCSP: []string{"default-src 'none'; frame-ancestors 'none'"}, wantXFO: []string{"DENY"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, v := range tt.csp {
				h.Add("Content-Security-Policy", v)
			}
			for _, v := range tt.xfo {
				h.Add("X-Frame-Options", v)
			}
			if tt.ifUnset {
				static.DenyFramingUnlessSet(h)
			} else {
				static.DenyFraming(h)
			}
			if got := h.Values("Content-Security-Policy"); !slices.Equal(got, tt.wantCSP) {
				t.Errorf("CSP %q, want %q", got, tt.wantCSP)
			}
			if got := h.Values("X-Frame-Options"); !slices.Equal(got, tt.wantXFO) {
				t.Errorf("X-Frame-Options %q, want %q", got, tt.wantXFO)
			}
		})
	}
}
