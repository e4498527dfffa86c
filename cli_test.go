package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/bridge/terminal"
	"github.com/wsbridge/wsbridge/man"
)

// TestManPageFlags: every flag --help lists is on the man page, under a
// topic of its own. (man.TestManPage keeps man/wsbridge.1 current.)
func TestManPageFlags(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help-man"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--help-man: exit %d, stderr: %s", code, stderr.String())
	}
	page := stdout.Bytes()
	for _, f := range visibleFlags(newTestParser(t)) {
		if !bytes.Contains(page, []byte(`\fB\-\-`+strings.ReplaceAll(f.Name, "-", `\-`)+`\fR`)) {
			t.Errorf("man page lacks --%s", f.Name)
		}
		if !man.HasTopic(f.Name) {
			t.Errorf("--%s has no topic in manFlagTopics (man/man.go): it is listed under \"Other options\"", f.Name)
		}
	}
}

// TestDefaultsInStep keeps the default: tags, which kong needs as text, and
// the help texts equal to the constants the code compares with.
func TestDefaultsInStep(t *testing.T) {
	t.Parallel()
	for _, f := range newTestParser(t).Model.Flags {
		var want string
		switch f.Name {
		case "term":
			want = terminal.DefaultTerm
		case "title-format":
			want = defaultTitleFormat
		default:
			continue
		}
		if f.Default != want {
			t.Errorf("--%s: default tag %q, want %q", f.Name, f.Default, want)
		}
		if !strings.Contains(f.Help, "Default: "+want) {
			t.Errorf("--%s: help %q does not give the default %q", f.Name, f.Help, want)
		}
	}
}

func TestWebsocketdFlags(t *testing.T) {
	t.Parallel()
	var c cli
	parser, err := kong.New(&c)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"-port=8080 cat", "--port=8080 cat"},
		{"-port 8080 -address 127.0.0.1 cat", "--port 8080 --address 127.0.0.1 cat"},
		{"--port 8080 -binary cat -port 9", "--port 8080 --binary cat -port 9"},
		{"-passstderr -maxforks 3 -- sh -c x", "--passstderr --maxforks 3 -- sh -c x"},
		{"-h", "-h"},
		{"-unknown cat", "-unknown cat"},
	}
	for _, tt := range tests {
		got := strings.Join(websocketdFlags(strings.Fields(tt.in), parser), " ")
		if got != tt.want {
			t.Errorf("%q -> %q, want %q", tt.in, got, tt.want)
		}
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

// TestReadmeTestCommand checks that the README gives, each in a sh block,
// the test commands .ci/run runs: the suite as built, and the suite with
// -tags portable.
func TestReadmeTestCommand(t *testing.T) {
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	var commands []string
	for _, line := range strings.Split(string(ci), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "go test -race") {
			commands = append(commands, line)
		}
	}
	if len(commands) < 2 {
		t.Fatalf(".ci/run runs %q, want the suite as built and with -tags portable", commands)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !bytes.Contains(readme, []byte("```sh\n"+c+"\n```")) {
			t.Errorf("README.md does not give .ci/run's test command %q in a sh block", c)
		}
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

// TestReadBuild: --version's version and commit come from -ldflags in
// releases, else from what the go command recorded.
func TestReadBuild(t *testing.T) {
	t.Parallel()
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "1fe29e1abcdef0123456789abcdef0123456789a"
	tests := []struct {
		name                string
		ldVersion, ldCommit string
		bi                  *debug.BuildInfo // nil: no build info
		version, commit     string
	}{
		{"release", "0.2.0", rev, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "0.2.0", rev},
		{"go install @v0.2.0", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, "0.2.0", "unknown"},
		{"go install @master", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.2.1-0.20261206135734-1fe29e1abcde"}},
			"0.2.1-0.20261206135734-1fe29e1abcde", "1fe29e1abcde"},
		{"git checkout", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206135734-1fe29e1abcde+dirty"}, Settings: vcs(rev, "true")},
			"0.0.0-20261206135734-1fe29e1abcde", "1fe29e1abcde-dirty"},
		{"-buildvcs=false", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel", "unknown"},
		{"no build info", "", "", nil, "devel", "unknown"},
	}
	for _, tt := range tests {
		got := readBuild(tt.ldVersion, tt.ldCommit, func() (*debug.BuildInfo, bool) { return tt.bi, tt.bi != nil })
		if got.version != tt.version || got.commit != tt.commit {
			t.Errorf("%s: version %q commit %q, want %q %q", tt.name, got.version, got.commit, tt.version, tt.commit)
		}
		want := "wsbridge " + tt.version + " (commit " + tt.commit + ", " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
		if got.String() != want {
			t.Errorf("%s: %q, want %q", tt.name, got.String(), want)
		}
	}
}
