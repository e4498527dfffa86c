package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/alecthomas/kong"
)

// websocketdFlags rewrites websocketd's single-dash spelling of long flags
// ("-port=8080", Go's flag package accepts both) to kong's "--port=8080", so
// existing command lines keep working. Only known flag names before the
// command are touched; the command's own arguments pass through untouched.
func websocketdFlags(args []string, k *kong.Kong) []string {
	// takesValue[name] says whether a flag reads the next argument as its
	// value when written without "=" ("-port 8080").
	takesValue := map[string]bool{}
	for _, f := range k.Model.Flags {
		takesValue[f.Name] = !f.IsBool() && !f.IsCounter()
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value, known := takesValue[name]
		if known && !strings.HasPrefix(a, "--") && len(name) > 1 {
			a = "-" + a
		}
		out = append(out, a)
		if known && value && !hasValue && i+1 < len(args) {
			// The value may look like a command; it is not one.
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// exitRequest carries kong's exit (after --help or --version) out of the
// parser without ending a test process.
type exitRequest int

func (e exitRequest) Error() string { return fmt.Sprintf("exit with status %d", int(e)) }

// parserError is kong refusing the cli struct itself: a bug of ours, not of
// the command line.
type parserError struct{ err error }

func (e *parserError) Error() string { return e.err.Error() }

// helpPrinter is kong's help with wsbridge's own usage lines: kong's generic
// one puts [flags] after the command, where they would be the command's.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	fmt.Fprint(ctx.Stdout, "Usage: wsbridge [flags] COMMAND [ARGS...]\n       wsbridge [flags] --dir=DIR\n")
	options.NoAppSummary = true
	return kong.DefaultHelpPrinter(options, ctx)
}

// parserOptions configure kong for run, and for reparse on SIGHUP.
func parserOptions(stdout, stderr io.Writer, src *configSource) []kong.Option {
	return []kong.Option{
		kong.Name("wsbridge"),
		kong.Description(description),
		kong.Vars{"version": build.String()},
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest(code)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.Help(helpPrinter),
		// WSBRIDGE_<FLAG> variables and --config (config.go).
		kong.DefaultEnvars(envPrefix),
		noEnvForHidden(),
		kong.Resolvers(src),
		kong.WithBeforeResolve(src.load),
	}
}

// buildInfo says which wsbridge this is.
type buildInfo struct {
	version   string // "0.2.0", a Go pseudo-version, or "devel"
	commit    string // 12 hex digits, "-dirty" added for a modified tree; "unknown"
	goVersion string // "go1.26.8"
	platform  string // "linux/amd64"
}

// String is what --version prints. It follows websocketd's "websocketd
// VERSION (GOVERSION OS-ARCH)" in spirit and adds the commit:
//
//	wsbridge 0.2.0 (commit 1fe29e1abcde, go1.26.8 linux/amd64)
func (b buildInfo) String() string {
	return fmt.Sprintf("wsbridge %s (commit %s, %s %s)", b.version, b.commit, b.goVersion, b.platform)
}

// pseudoRevision finds the commit in a Go pseudo-version
// (v0.2.1-0.20261206135734-1fe29e1abcde), which is what `go install
// ...@master` or a build in a git checkout records.
var pseudoRevision = regexp.MustCompile(`[.-]\d{14}-([0-9a-f]{12})(\+dirty)?$`)

// readBuild works out the version and commit: a release sets both with
// -ldflags -X; `go install github.com/wsbridge/wsbridge@v0.2.0` records the
// module version; a build in a git checkout records vcs.revision (unless
// -buildvcs=false); anything else is "devel".
func readBuild(ldVersion, ldCommit string, read func() (*debug.BuildInfo, bool)) buildInfo {
	b := buildInfo{version: ldVersion, commit: ldCommit, goVersion: runtime.Version(), platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := read()
	if ok && bi.GoVersion != "" {
		b.goVersion = bi.GoVersion
	}
	if ok && b.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.version = strings.TrimPrefix(strings.TrimSuffix(bi.Main.Version, "+dirty"), "v")
	}
	if ok && b.commit == "" {
		var rev string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev == "" {
			if m := pseudoRevision.FindStringSubmatch(bi.Main.Version); m != nil {
				rev, dirty = m[1], m[2] != ""
			}
		}
		if rev != "" {
			b.commit = rev[:min(len(rev), 12)]
			if dirty {
				b.commit += "-dirty"
			}
		}
	}
	if b.version == "" {
		b.version = "devel"
	}
	if b.commit == "" {
		b.commit = "unknown"
	}
	return b
}
