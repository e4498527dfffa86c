package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// screenshotFile is the screenshot the README shows, rewritten by
// TestTerminalBrowser when WSBRIDGE_UPDATE_SCREENSHOT=1.
const screenshotFile = "static/terminal-screenshot.png"

// TestTerminalBrowser drives the terminal page in headless Chromium through
// static/tests/terminal.browser.mjs against the real binary: it types a
// command and sees its output, resizes the window and sees tput cols change,
// floods the terminal with yes, checks that the page stays responsive and
// that Ctrl-C stops the flood within a second, and takes a screenshot.
//
// It is not parallel: it checks how long the page takes to answer during
// the flood, and runs with nothing else loading the machine.
func TestTerminalBrowser(t *testing.T) {
	node := browserTestTools(t)
	if _, err := os.Stat(filepath.Join("static", "terminal", "dist", "terminal.js")); err != nil {
		msg := "the terminal page is not built: npm ci --prefix static && npm run build --prefix static"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// A plain bash with a fixed prompt, whatever the machine's dotfiles.
	env := []string{
		`PS1=\[\e[1;32m\]demo@wsbridge\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ `,
		"LANG=C.UTF-8",
	}
	s := startServerEnv(t, env, "--terminal", "--writable", "--passenv=PATH,PS1,LANG", "--cwd=/",
		"--client-option=fontSize=15", "bash", "--norc", "--noprofile", "-i")
	shot := filepath.Join(t.TempDir(), "terminal.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("static", "tests", "terminal.browser.mjs"), s.HTTPURL("/"), shot)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", out)
	if err != nil {
		t.Fatalf("browser test: %v\nserver log:\n%s", err, s.Stderr())
	}
	if !strings.Contains(string(out), "ok screenshot saved") {
		t.Fatal("browser test did not get to the end")
	}
	if os.Getenv("WSBRIDGE_UPDATE_SCREENSHOT") == "1" {
		png, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(screenshotFile, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", screenshotFile)
	}
}
