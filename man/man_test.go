package man_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/man"
)

var update = flag.Bool("update", false, "rewrite wsbridge.1 from wsbridge --help-man")

const manFile = "wsbridge.1"

// helpMan builds the wsbridge binary and returns what --help-man prints:
// the page comes from the real command line parser, which lives in package
// main. Without version control stamping the page says "wsbridge devel",
// whatever the commit; releases make their own with their version.
func helpMan(t *testing.T) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsbridge")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "github.com/wsbridge/wsbridge").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "--help-man")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("--help-man: %v, stderr: %s", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("--help-man wrote to stderr: %s", stderr.String())
	}
	return stdout.Bytes()
}

// TestManPage keeps wsbridge.1 equal to what --help-man prints, with every
// section in it. (TestManPageFlags at the root checks every flag is there.)
func TestManPage(t *testing.T) {
	t.Parallel()
	page := helpMan(t)
	if *update {
		if err := os.WriteFile(manFile, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onDisk, err := os.ReadFile(manFile)
	if err != nil {
		t.Fatalf("%v: run go test ./man -run TestManPage -update", err)
	}
	if !bytes.Equal(onDisk, page) {
		t.Fatalf("man page is stale: run go test ./man -run TestManPage -update")
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
}

// TestManPageRenders formats the committed page with man(1) and fails on any
// warning groff prints; the rendered text must read as the sources mean it.
func TestManPageRenders(t *testing.T) {
	t.Parallel()
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

// TestWriteFlags checks the OPTIONS section on a small parser: placeholders,
// defaults, enums, escaping, hidden flags, and a flag of no topic.
func TestWriteFlags(t *testing.T) {
	t.Parallel()
	var c struct {
		Port     int    `help:"Port." placeholder:"PORT"`
		LogLevel string `name:"loglevel" default:"info" enum:"info,error" help:"Level."`
		Secret   bool   `name:"secret" hidden:"" help:"Hidden."`
		Brandnew string `name:"brand-new" default:"x" help:"Default: said here."`
	}
	k, err := kong.New(&c, kong.Name("wsbridge"), kong.Description("One.\n\nTwo."))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := man.Write(&b, k, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`.TH WSBRIDGE 1 "" "wsbridge 1.2.3" "User Commands"`,
		"One.\n.PP\nTwo.\n",
		`\fB\-\-port\fR=\fIPORT\fR`,
		"One of: info, error.\nDefault: \\fBinfo\\fR.\n",
		".SS Other options\n.TP\n\\fB\\-\\-brand\\-new\\fR=\\fIBRAND\\-NEW\\fR\nDefault: said here.\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "secret") {
		t.Errorf("page lists the hidden --secret")
	}
	if !man.HasTopic("port") || man.HasTopic("brand-new") {
		t.Errorf("HasTopic: port %v, brand-new %v", man.HasTopic("port"), man.HasTopic("brand-new"))
	}
}
