package man_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The Markdown documents a reader follows links between: README.md at the
// root, the manual's chapters beside the man page, the terminal protocol
// and the examples' READMEs.
func manualFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../README.md", "../static/PROTOCOL.md"}
	for _, pattern := range []string{"*.md", "../examples/*/README.md"} {
		more, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, more...)
	}
	return files
}

var (
	// mdLink matches [text](target) outside code; images too.
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`^(#{1,6})\s+(.*)$`)
)

// anchor is GitHub's heading slug: lower case, punctuation but hyphens and
// underscores dropped, spaces to hyphens.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// document is one Markdown file: its headings' anchors and its links.
type document struct {
	anchors  map[string]int
	headings []string
	links    []string
}

// parseMarkdown reads headings and links, skipping fenced code blocks,
// where '#' starts a shell comment rather than a heading.
func parseMarkdown(text string) document {
	d := document{anchors: map[string]int{}}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := mdHeading.FindStringSubmatch(line); m != nil {
			d.headings = append(d.headings, m[2])
			d.anchors[anchor(m[2])]++
		}
		// Inline code spans may show link syntax as an example.
		for i, part := range strings.Split(line, "`") {
			if i%2 == 1 {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(part, -1) {
				d.links = append(d.links, m[1])
			}
		}
	}
	return d
}

func TestAnchor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Quick start":                                "quick-start",
		"`--pty`: a terminal instead of pipes":       "--pty-a-terminal-instead-of-pipes",
		"The program's environment":                  "the-programs-environment",
		"Comparison with websocketd, ttyd and gotty": "comparison-with-websocketd-ttyd-and-gotty",
		"Reconnecting (`--reconnect=DURATION`)":      "reconnecting---reconnectduration",
	} {
		if got := anchor(in); got != want {
			t.Errorf("anchor(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestManualLinks keeps README and the manual navigable: every heading is
// unique within its file (so an anchor lands where it says), and every
// relative link names a file that exists and, with #fragment, a heading in
// it.
func TestManualLinks(t *testing.T) {
	t.Parallel()
	docs := map[string]document{}
	for _, f := range manualFiles(t) {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Clean(f)] = parseMarkdown(string(text))
	}
	for file, d := range docs {
		for a, n := range d.anchors {
			if n > 1 {
				t.Errorf("%s: %d headings make the anchor #%s; make them unique", file, n, a)
			}
		}
		for _, link := range d.links {
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, frag, _ := strings.Cut(link, "#")
			path := file
			if target != "" {
				path = filepath.Clean(filepath.Join(filepath.Dir(file), target))
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s: link %q: %v", file, link, err)
					continue
				}
			}
			if frag == "" {
				continue
			}
			td, ok := docs[path]
			if !ok {
				if strings.HasSuffix(path, ".md") {
					text, err := os.ReadFile(path)
					if err != nil {
						t.Errorf("%s: link %q: %v", file, link, err)
						continue
					}
					td = parseMarkdown(string(text))
				} else {
					continue
				}
			}
			if td.anchors[frag] == 0 {
				t.Errorf("%s: link %q: no heading makes #%s in %s", file, link, frag, path)
			}
		}
	}
}
