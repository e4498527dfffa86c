package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

var update = flag.Bool("update", false, "rewrite man/wsbridge.1 from --help-man")

const manFile = "man/wsbridge.1"

// TestManPage keeps man/wsbridge.1 equal to what --help-man prints, with
// every section and every flag in it.
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
		".SH CONFIGURATION FILE", ".SH ENVIRONMENT", ".SH CLOSE CODES",
		".SH KILL SEQUENCE", ".SH OUTPUT", ".SH SIGNALS", ".SH SYSTEMD",
		".SH REVERSE PROXIES", ".SH METRICS", ".SH EXIT STATUS", ".SH EXAMPLES",
		".SH SEE ALSO",
		`\fB\-\-port\fR=\fIPORT\fR`, `\fB\-\-maxframesize\fR=\fIBYTES\fR`,
		`\fB\-\-binary\fR`, "HTTP_HOST", "HTTP_PROXY", "WEBSOCKET_PROTOCOL",
		".B \\%SIGHUP", "WSBRIDGE_", "wsbridge_sessions_total",
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

	k := newTestParser(t)
	for _, f := range visibleFlags(k) {
		if !bytes.Contains(page, []byte(`\fB\-\-`+roffText(f.Name)+`\fR`)) {
			t.Errorf("man page lacks --%s", f.Name)
		}
		if _, ok := manFlagTopic(f.Name); !ok {
			t.Errorf("--%s has no topic in manFlagTopics (man.go): it is listed under \"Other options\"", f.Name)
		}
	}
}

// TestManPageRenders formats the committed page with man(1) and fails on any
// warning groff prints; the rendered text must read as the sources mean it.
func TestManPageRenders(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("man is not installed (apt-get install man-db groff): %v", err)
		}
		t.Skipf("man is not installed: %v", err)
	}
	cmd := exec.Command("man", "--warnings", "-l", manFile)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man --warnings -l %s: %v\n%s", manFile, err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Fatalf("man --warnings -l %s printed warnings:\n%s", manFile, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"CONFIGURATION FILE", "SIGNALS", "SYSTEMD", "REVERSE PROXIES", "METRICS",
		"--shutdown-timeout", "wsbridge_sessions_total",
		"systemd-socket-activate -l 127.0.0.1:8080 wsbridge cat",
		`command = ["./count.sh", "--fast"]`, "WSBRIDGE_TRUSTED_PROXY=10.0.0.0/8,127.0.0.1",
		"wsbridge [flags] --dir=DIR",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("rendered:\n%s", out)
	}
}

// readmeFlagRow matches a row of the README's flag tables: its first cell
// names the flags, its second holds the default.
var readmeFlagRow = regexp.MustCompile("^\\| (`-[^|]*?) *\\| *([^|]*?) *\\|")

// readmeFlagName finds each flag a table cell names.
var readmeFlagName = regexp.MustCompile("`--([a-z][a-z0-9-]*)")

// TestReadmeFlags keeps the README's flag tables complete: every flag
// --help lists has a row, with its default when it has one, and no row names
// a flag that does not exist.
func TestReadmeFlags(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{} // flag name -> default cell
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		m := readmeFlagRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		for _, n := range readmeFlagName.FindAllStringSubmatch(m[1], -1) {
			defaults[n[1]] = strings.TrimSpace(m[2])
		}
	}

	k := newTestParser(t)
	known := map[string]bool{}
	for _, f := range visibleFlags(k) {
		known[f.Name] = true
		cell, ok := defaults[f.Name]
		if !ok {
			t.Errorf("README.md has no flag table row for --%s", f.Name)
			continue
		}
		if f.HasDefault && f.Default != "" && !strings.Contains(cell, "`"+f.Default+"`") {
			t.Errorf("README.md: --%s: default cell %q lacks `%s`", f.Name, cell, f.Default)
		}
	}
	for name := range defaults {
		if !known[name] {
			t.Errorf("README.md has a flag table row for --%s, which wsbridge does not have", name)
		}
	}
}

// TestReadmeTestCommand checks that the test command the README gives is the
// one .ci/run ends with.
func TestReadmeTestCommand(t *testing.T) {
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, line := range strings.Split(string(ci), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "echo ") {
			last = line
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("```sh\n"+last+"\n```")) {
		t.Errorf("README.md does not give .ci/run's test command %q in a sh block", last)
	}
}

// newTestParser builds the parser run uses, to read its flags.
func newTestParser(t *testing.T) *kong.Kong {
	t.Helper()
	var c cli
	k, err := kong.New(&c, parserOptions(io.Discard, io.Discard, new(configSource))...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// visibleFlags are the flags --help lists.
func visibleFlags(k *kong.Kong) []*kong.Flag {
	var out []*kong.Flag
	for _, f := range k.Model.Flags {
		if !f.Hidden {
			out = append(out, f)
		}
	}
	return out
}
