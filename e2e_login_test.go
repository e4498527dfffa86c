package main_test

import (
	"os"
	"os/user"
	"regexp"
	"strings"
	"testing"
)

// A browser terminal's program gets what a login shell expects of the
// account wsbridge runs as (README's first terminal command ran bash with
// no HOME, which greeted the user with "bash: /.cargo/env: No such file or
// directory"), starts in HOME unless --cwd says otherwise, and --passenv
// still decides for the variables it names.
func TestTerminalLoginEnv(t *testing.T) {
	t.Parallel()
	u, err := user.Current()
	if err != nil {
		t.Skipf("no user: %v", err)
	}
	wantShell := os.Getenv("SHELL")
	if b, err := os.ReadFile("/etc/passwd"); err == nil {
		if m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(u.Username) + `:[^:\n]*:[^:\n]*:[^:\n]*:[^:\n]*:[^:\n]*:([^:\n]*)$`).FindSubmatch(b); m != nil {
			wantShell = string(m[1])
		}
	}
	if wantShell == "" {
		wantShell = "/bin/sh"
	}
	dir := t.TempDir()
	env := []string{"LANG=C.UTF-8", "LC_TIME=C", "SHELL=/from/env", "NOT_PASSED=x"}
	script := `echo; for v in HOME USER LOGNAME SHELL LANG LC_TIME TERM COLORTERM NOT_PASSED; do printf '%s=[%s]\n' "$v" "$(printenv "$v")"; done; echo "PWD=[$(pwd)]"`
	tests := []struct {
		name  string
		flags []string
		want  map[string]string
	}{
		{"login", nil, map[string]string{
			"HOME": u.HomeDir, "USER": u.Username, "LOGNAME": u.Username, "SHELL": wantShell,
			"LANG": "C.UTF-8", "LC_TIME": "C", "TERM": "xterm-256color", "COLORTERM": "truecolor",
			"NOT_PASSED": "", "PWD": u.HomeDir,
		}},
		{"--cwd and --term", []string{"--cwd=" + dir, "--term=xterm"}, map[string]string{
			"HOME": u.HomeDir, "TERM": "xterm", "PWD": dir,
		}},
		{"--passenv wins", []string{"--passenv=PATH,NOT_PASSED,SHELL"}, map[string]string{
			"SHELL": "/from/env", "NOT_PASSED": "x", "USER": u.Username,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--terminal"}, tt.flags...)
			s := startServerEnv(t, env, append(args, "sh", "-c", script)...)
			tc := ttyDial(t, s.URL("/"), nil)
			tc.waitOutput(`PWD=\[[^\]]*\]`)
			got := map[string]string{}
			for _, m := range regexp.MustCompile(`(\w+)=\[([^\]]*)\]`).FindAllStringSubmatch(tc.out.String(), -1) {
				got[m[1]] = m[2]
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s=%q, want %q (output %q)", k, got[k], v, strings.TrimSpace(tc.out.String()))
				}
			}
		})
	}
}
