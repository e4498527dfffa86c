package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wsbridge/wsbridge/bridge/server"
)

func TestSplitCommand(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "cat", want: []string{"cat"}},
		{in: "  date  +%T ", want: []string{"date", "+%T"}},
		{in: "date '+%T %Z'", want: []string{"date", "+%T %Z"}},
		{in: `echo "a \"b\" \\ \$HOME \x"`, want: []string{"echo", `a "b" \ $HOME \x`}},
		{in: `echo a\ b c\\d`, want: []string{"echo", "a b", `c\d`}},
		{in: `echo 'it'"'"'s'`, want: []string{"echo", "it's"}},
		{in: `echo '' ""`, want: []string{"echo", "", ""}},
		{in: "echo $HOME ~ *", want: []string{"echo", "$HOME", "~", "*"}},
		{in: "a\tb\\\nc", want: []string{"a", "bc"}},
		{in: "", want: nil},
		{in: "echo 'open", err: "single quote"},
		{in: `echo "open`, err: "double quote"},
		{in: `echo \`, err: "backslash"},
	} {
		got, err := splitCommand(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("splitCommand(%q): error %v, want one about %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestSessionFlagsExist: every name in the per-endpoint lists is a flag, so
// a renamed flag cannot silently stop being per-endpoint.
func TestSessionFlagsExist(t *testing.T) {
	t.Parallel()
	src := new(configSource)
	_, k, err := parseCLI([]string{"cat"}, parserOptions(io.Discard, io.Discard, src), src)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(slices.Clone(sessionFlags), clusterFlags...) {
		if modelFlag(k, name) == nil {
			t.Errorf("%q is in sessionFlags or clusterFlags but is no flag", name)
		}
	}
}

// TestEndpointSettings: an endpoint takes the global session flags, its own
// keys over them, and the defaults of server-level flags.
func TestEndpointSettings(t *testing.T) {
	t.Parallel()
	toml := `
maxforks = 3
[[endpoint]]
path = "/a"
command = ["cat"]
maxframesize = 5

[[endpoint]]
path = "/t/"
command = ["sh"]
terminal = true
writable = true
reconnect = "1m"
binary = false
`
	cfg, err := serverConfigWith(t, toml, "--binary", "--maxframesize=10", "--pingms=700", "--endpoint=/b=cat -u", "--endpoint=/c='x y'")
	if err != nil {
		t.Fatal(err)
	}
	eps := cfg.Endpoints
	byPath := map[string]int{}
	for i, ep := range eps {
		byPath[ep.Path] = i
	}
	a, tt, b, cc := eps[byPath["/a"]].Config, eps[byPath["/t/"]].Config, eps[byPath["/b"]].Config, eps[byPath["/c"]].Config
	want(t, a.Binary, true)
	want(t, a.MaxFrameSize, int64(5))
	want(t, a.PingInterval.Milliseconds(), int64(700))
	want(t, b.MaxFrameSize, int64(10))
	want(t, strings.Join(b.Command, "|"), "cat|-u")
	want(t, strings.Join(cc.Command, "|"), "x y")
	if tt.Terminal == nil || !tt.Terminal.Writable || tt.Terminal.Reconnect.Minutes() != 1 {
		t.Errorf("/t/: terminal %+v, want writable with a 1m reconnect", tt.Terminal)
	}
	want(t, a.MaxForks, 1024) // server-level: the default, not the file's
	want(t, cfg.MaxForks, 3)
}

// serverConfigWith is parseWith returning the server's Config.
func serverConfigWith(t *testing.T, toml string, args ...string) (*server.Config, error) {
	t.Helper()
	if toml != "" {
		path := filepath.Join(t.TempDir(), "wsbridge.toml")
		if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config=" + path}, args...)
	}
	src := new(configSource)
	c, k, err := parseCLI(args, parserOptions(io.Discard, io.Discard, src), src)
	if err != nil {
		return nil, err
	}
	return c.serverConfig(k, io.Discard)
}
