package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManServiceSectionsRender renders the service sections in a page of
// their own with man --warnings: no warning, and the text is there.
func TestManServiceSectionsRender(t *testing.T) {
	t.Parallel()
	man, err := exec.LookPath("man")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("man not found (apt-get install -y man-db groff-base)")
		}
		t.Skip("man not found")
	}
	var page strings.Builder
	page.WriteString(".TH WSBRIDGE 1\n.SH NAME\nwsbridge \\- test page\n")
	for _, s := range manServiceSections {
		page.WriteString(s)
	}
	page.WriteString(".SH EXIT STATUS\n")
	page.WriteString(manSectionExitStatusConfig)
	page.WriteString(".SH EXAMPLES\n")
	page.WriteString(manServiceExamples)
	path := filepath.Join(t.TempDir(), "wsbridge.1")
	if err := os.WriteFile(path, []byte(page.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(man, "--warnings", "-l", path)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man --warnings:\n%s", stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"CONFIGURATION FILE", "SIGNALS", "SYSTEMD", "REVERSE PROXIES", "METRICS", "ENVIRONMENT",
		"--shutdown-timeout", "wsbridge_sessions_total", "systemd-socket-activate -l 127.0.0.1:8080 wsbridge cat",
		`command = ["./count.sh", "--fast"]`, "WSBRIDGE_TRUSTED_PROXY=10.0.0.0/8,127.0.0.1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("rendered:\n%s", out)
	}
}
