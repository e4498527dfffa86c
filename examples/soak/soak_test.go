//go:build linux

package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A few seconds of the soak, so that it keeps working: its warm-up has a
// client of every kind leave in every way, the random mix follows, no
// client sees a problem, and no daemon keeps anything.
func TestSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsbridge and runs it for seconds")
	}
	for _, tool := range []string{"go", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing", tool)
		}
	}
	var out strings.Builder
	err := run(config{duration: 4 * time.Second, clients: 8, redis: true, seed: 1}, &out)
	t.Logf("soak output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"| pipe |", "| pty |", "| terminal |", "| shared terminal |", "| broadcast |", "| broadcast envelope |"} {
		if !strings.Contains(out.String(), kind) {
			t.Errorf("no line for %s", kind)
		}
	}
}
