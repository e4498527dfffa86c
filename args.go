package main

import (
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
