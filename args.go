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
	known := map[string]bool{}
	for _, f := range k.Model.Flags {
		known[f.Name] = true
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		if !strings.HasPrefix(a, "--") && len(a) > 2 {
			name, _, _ := strings.Cut(a[1:], "=")
			if known[name] {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
