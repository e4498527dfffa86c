package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite man/wsbridge.1 from --help-man")

const manFile = "man/wsbridge.1"

// TestManPage keeps man/wsbridge.1 equal to what --help-man prints, and
// checks that the page renders without a single groff warning.
func TestManPage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help-man"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--help-man: exit %d, stderr: %s", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("--help-man wrote to stderr: %s", stderr.String())
	}
	page := stdout.Bytes()

	if *update {
		if err := os.WriteFile(manFile, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onDisk, err := os.ReadFile(manFile)
	if err != nil {
		t.Fatalf("%v: run go test -run TestManPage -update", err)
	}
	if !bytes.Equal(onDisk, page) {
		t.Fatalf("man page is stale: run go test -run TestManPage -update")
	}

	for _, want := range []string{
		".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS",
		".SH ENVIRONMENT", ".SH CLOSE CODES", ".SH KILL SEQUENCE", ".SH OUTPUT",
		".SH SIGNALS", ".SH EXIT STATUS", ".SH EXAMPLES", ".SH SEE ALSO",
		`\fB\-\-port\fR=\fIPORT\fR`, `\fB\-\-maxframesize\fR=\fIBYTES\fR`,
		`\fB\-\-binary\fR`, "HTTP_HOST", "HTTP_PROXY",
	} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if bytes.Contains(page, []byte(`\fB\-\-help\-man`)) {
		t.Errorf("man page lists the hidden --help-man flag")
	}
	for i, line := range strings.Split(string(page), "\n") {
		if strings.HasPrefix(line, "'") {
			t.Errorf("line %d starts with an apostrophe (a roff request): %q", i+1, line)
		}
	}
}

// TestManPageRenders formats the committed page with man(1) and fails on any
// warning groff prints.
func TestManPageRenders(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("man is not installed (apt-get install man-db groff): %v", err)
		}
		t.Skipf("man is not installed: %v", err)
	}
	cmd := exec.Command("man", "--warnings", "-l", manFile)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man --warnings -l %s: %v\n%s", manFile, err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Fatalf("man --warnings -l %s printed warnings:\n%s", manFile, stderr.String())
	}
}
