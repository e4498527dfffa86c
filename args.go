package main

import (
	"fmt"
	"io"
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
		kong.Vars{"version": "wsbridge " + version},
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
