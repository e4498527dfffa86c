package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/wsbridge/wsbridge"

// kinds are the session kinds: below the gate, beside each other.
var kinds = []string{"bridge/pipe", "bridge/terminal", "bridge/broadcast"}

// allowedImports lists, per package of ours (module-relative; "" is the
// root, main), the packages of ours it may import: only downwards, in the
// order main > bridge/server > bridge/auth, bridge/metrics, static, man >
// bridge (the gate) > bridge/session > the kinds > bridge/internal/... >
// process. No kind
// imports another kind, and the gate imports no kind: only the server wires
// kinds into the gate. A name ending in "/" stands for every package under
// it. Packages listed here that do not exist (yet) change nothing.
var allowedImports = map[string][]string{
	"":              append([]string{"bridge/ratelimit", "bridge/server", "bridge/auth", "bridge/metrics", "static", "man", "bridge", "bridge/session", "bridge/internal/", "process", "bridge/broadcast/cluster", "bridge/broadcast/cluster/redistest"}, kinds...),
	"bridge/server": append([]string{"bridge/ratelimit", "bridge/auth", "bridge/metrics", "static", "man", "bridge", "bridge/session", "bridge/internal/", "process"}, kinds...),
	"bridge/auth":   {"bridge", "bridge/session", "bridge/internal/", "process"},
	// metrics counts for the gate and the kinds (their Observer interfaces).
	"bridge/metrics": append([]string{"bridge", "bridge/session", "bridge/internal/", "process", "bridge/broadcast/cluster"}, kinds...),
	// gatetest is for tests only: a gate and a kind on a test server.
	"bridge/gatetest": {"bridge", "bridge/session", "bridge/internal/", "process", "bridge/gatetest/rawws"},
	// rawws, the raw-socket client of the tests and the soak benchmark,
	// knows nothing of ours: the daemon's code stays out of the client.
	"bridge/gatetest/rawws": {},
	// The example programs drive the binary from outside; the soak
	// benchmark's clients are rawws's.
	"examples/":        {"bridge/gatetest/rawws"},
	"static":           {"bridge", "bridge/session", "bridge/internal/", "process"},
	"man":              {"bridge", "bridge/session", "bridge/internal/", "process"},
	"bridge":           {"bridge/session", "bridge/internal/", "process"},
	"bridge/session":   {"bridge/ratelimit", "bridge/internal/", "process"},
	"bridge/pipe":      {"bridge/session", "bridge/ratelimit", "bridge/internal/", "process"},
	"bridge/terminal":  {"bridge/session", "bridge/ratelimit", "bridge/internal/", "process"},
	"bridge/broadcast": {"bridge/session", "bridge/ratelimit", "bridge/internal/", "process", "bridge/broadcast/cluster", "bridge/broadcast/envelope"},
	// Token buckets (--conn-rate, --msg-rate): time and numbers only.
	"bridge/ratelimit": {},
	// The JSON lines of --envelope programs: no groups, no WebSockets.
	"bridge/broadcast/envelope": {"bridge/internal/"},
	// The Redis engine of broadcast groups: it knows Redis and groups, not
	// WebSockets, sessions or processes.
	"bridge/broadcast/cluster": {},
	// A throwaway redis-server for the cluster's unit and end-to-end tests.
	"bridge/broadcast/cluster/redistest": {},
	// frameguard checks client frames with frame's UTF-8 check.
	"bridge/internal/frameguard": {"bridge/internal/frame", "process"},
	"bridge/internal/":           {"process"},
	"process":                    {},
}

// matches reports whether the package p is what the rule's name means.
func matches(name, p string) bool {
	return p == name || (strings.HasSuffix(name, "/") && strings.HasPrefix(p, name))
}

// checkImport returns why the edge from → to (module-relative) is not
// allowed, or "".
func checkImport(from, to string) string {
	// The most specific rule wins: "bridge/internal/frameguard" over
	// "bridge/internal/".
	rule, found := "", false
	for name := range allowedImports {
		if matches(name, from) && (!found || len(name) > len(rule)) {
			rule, found = name, true
		}
	}
	if !found {
		return fmt.Sprintf("%s imports %s: %s has no rule; add it to allowedImports at its rank", show(from), show(to), show(from))
	}
	if slices.ContainsFunc(allowedImports[rule], func(m string) bool { return matches(m, to) }) {
		return ""
	}
	return fmt.Sprintf("%s imports %s: not allowed (imports go down only; see allowedImports)", show(from), show(to))
}

func show(p string) string {
	if p == "" {
		return "main (the root)"
	}
	return p
}

// TestImportDirection fails on an upward or sideways import among the
// module's packages, naming the edge.
func TestImportDirection(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	edges := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		from, ok := relative(fields[0])
		if !ok {
			continue
		}
		for _, imp := range fields[1:] {
			to, ok := relative(imp)
			if !ok {
				continue
			}
			edges++
			if why := checkImport(from, to); why != "" {
				t.Error(why)
			}
		}
	}
	if edges == 0 {
		t.Fatalf("go list found no import among our packages:\n%s", out)
	}
}

// relative is p without the module path, and whether p is ours.
func relative(p string) (string, bool) {
	if p == module {
		return "", true
	}
	rest, ok := strings.CutPrefix(p, module+"/")
	return rest, ok
}

// TestImportRules checks the rules themselves on edges that do and do not
// exist yet.
func TestImportRules(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		from, to string
		ok       bool
	}{
		{"", "bridge/server", true},
		{"bridge/server", "bridge", true},
		{"bridge/server", "bridge/terminal", true},
		{"bridge/server", "static", true},
		{"static", "bridge", true},
		{"bridge/server", "bridge/auth", true},
		{"bridge/auth", "bridge", true},
		{"bridge", "bridge/auth", false},
		{"bridge/server", "bridge/metrics", true},
		{"bridge/metrics", "bridge/broadcast", true},
		{"bridge", "bridge/metrics", false},
		{"bridge/broadcast", "bridge/metrics", false},
		{"bridge", "bridge/session", true},
		{"bridge/pipe", "bridge/session", true},
		{"bridge/terminal", "bridge/internal/frame", true},
		{"bridge/internal/frame", "process", true},
		{"bridge", "bridge/server", false},
		{"bridge", "bridge/pipe", false},
		{"bridge", "bridge/broadcast", false},
		{"bridge/pipe", "bridge/terminal", false},
		{"bridge/broadcast", "bridge/pipe", false},
		{"bridge/session", "bridge", false},
		{"bridge/internal/frame", "bridge/session", false},
		{"bridge/internal/frame", "bridge/internal/other", false},
		{"bridge/internal/frameguard", "bridge/internal/frame", true},
		{"bridge/internal/frame", "bridge/internal/frameguard", false},
		{"static", "man", false},
		{"man", "bridge/server", false},
		{"process", "bridge", false},
		{"bridge/server", "", false},
		{"bridge/unknown", "process", false},
		{"examples/soak", "bridge/gatetest/rawws", true},
		{"examples/soak", "bridge", false},
		{"bridge/gatetest", "bridge/gatetest/rawws", true},
		{"bridge/gatetest/rawws", "bridge", false},
		{"", "bridge/gatetest/rawws", false},
	} {
		why := checkImport(tt.from, tt.to)
		if (why == "") != tt.ok {
			t.Errorf("%q → %q: allowed %v, want %v (%s)", tt.from, tt.to, why == "", tt.ok, why)
		}
		if why != "" && !strings.Contains(why, show(tt.to)) {
			t.Errorf("%q → %q: message %q does not name the edge", tt.from, tt.to, why)
		}
	}
}
