package static

import (
	"net/http"
	"strings"
)

// A page that can be shown in another site's frame can be clickjacked: the
// other site lays its own buttons over a writable terminal or the dev
// console and the visitor types into them unawares. Every page wsbridge
// makes refuses framing in both ways browsers understand: CSP
// frame-ancestors (current browsers) and X-Frame-Options (older ones).

const (
	cspHeader          = "Content-Security-Policy"
	frameOptionsHeader = "X-Frame-Options"
	frameAncestors     = "frame-ancestors"
	frameAncestorsNone = frameAncestors + " 'none'"
)

// DenyFraming makes the response in h refuse every frame:
// frame-ancestors 'none' goes into its Content-Security-Policy (merged into
// the first policy already set, replacing any frame-ancestors there, rather
// than a second header) and X-Frame-Options is DENY. For the pages of
// wsbridge's own that must never be framed, whatever else says otherwise.
func DenyFraming(h http.Header) {
	policies := h.Values(cspHeader)
	if len(policies) == 0 {
		h.Set(cspHeader, frameAncestorsNone)
	} else {
		merged := append([]string{withFrameAncestorsNone(policies[0])}, policies[1:]...)
		h[cspHeader] = merged
	}
	h.Set(frameOptionsHeader, "DENY")
}

// DenyFramingUnlessSet is DenyFraming for a response that may state its
// own framing policy: a CGI script's, or --header's. One that sets
// X-Frame-Options or a CSP frame-ancestors directive keeps what it says;
// any other gets DenyFraming.
func DenyFramingUnlessSet(h http.Header) {
	if len(h.Values(frameOptionsHeader)) > 0 {
		return
	}
	for _, p := range h.Values(cspHeader) {
		if hasFrameAncestors(p) {
			return
		}
	}
	DenyFraming(h)
}

// withFrameAncestorsNone is the CSP policy with its frame-ancestors
// directive, if any, replaced by frame-ancestors 'none' at the end. Within
// one policy only the first directive of a name counts, so appending
// alone would not do.
func withFrameAncestorsNone(policy string) string {
	var kept []string
	for _, d := range strings.Split(policy, ";") {
		d = strings.TrimSpace(d)
		if d == "" || isFrameAncestors(d) {
			continue
		}
		kept = append(kept, d)
	}
	return strings.Join(append(kept, frameAncestorsNone), "; ")
}

func hasFrameAncestors(policy string) bool {
	for _, d := range strings.Split(policy, ";") {
		if isFrameAncestors(strings.TrimSpace(d)) {
			return true
		}
	}
	return false
}

// isFrameAncestors reports whether the directive d is frame-ancestors;
// directive names are case-insensitive.
func isFrameAncestors(d string) bool {
	name, _, _ := strings.Cut(strings.ReplaceAll(d, "\t", " "), " ")
	return strings.EqualFold(name, frameAncestors)
}
