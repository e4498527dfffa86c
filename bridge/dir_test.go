//go:build unix

package bridge_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/session"
)

// scriptTree makes a folder of endpoints, and beside it a script the folder
// must never reach.
func scriptTree(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	dir := filepath.Join(top, "scripts")
	write := func(name string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho hi\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("chat.sh", 0o755)
	write("sub/deep.sh", 0o755)
	write("plain.txt", 0o644)
	write(".hidden.sh", 0o755)
	write(".dot/inside.sh", 0o755)
	write("empty/keep.txt", 0o644)
	if err := os.WriteFile(filepath.Join(top, "outside.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"link-out.sh": "../outside.sh",
		"link-abs.sh": filepath.Join(top, "outside.sh"),
		"link-in.sh":  "chat.sh",
		"linkdir":     "sub",
		// os.Root follows no absolute link, even one staying inside.
		"link-abs-in.sh":   filepath.Join(dir, "chat.sh"),
		"link-dangling.sh": "nothing.sh",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestScriptDirLookup(t *testing.T) {
	t.Parallel()
	dir := scriptTree(t)
	d, err := bridge.OpenScriptDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	real, _ := filepath.EvalSymlinks(dir)

	tests := []struct {
		path       string
		file       string // "" when refused
		scriptName string
		pathInfo   string
		reason     string // why it is refused, for the log
	}{
		{path: "/chat.sh", file: "chat.sh", scriptName: "/chat.sh"},
		{path: "/chat.sh/room/1", file: "chat.sh", scriptName: "/chat.sh", pathInfo: "/room/1"},
		{path: "/chat.sh/", file: "chat.sh", scriptName: "/chat.sh", pathInfo: "/"},
		{path: "/sub/deep.sh", file: "sub/deep.sh", scriptName: "/sub/deep.sh"},
		{path: "/sub//deep.sh/x", file: "sub/deep.sh", scriptName: "/sub/deep.sh", pathInfo: "/x"},
		{path: "/link-in.sh/a", file: "chat.sh", scriptName: "/link-in.sh", pathInfo: "/a"},
		{path: "/linkdir/deep.sh", file: "sub/deep.sh", scriptName: "/linkdir/deep.sh"},
		{path: "/", reason: bridge.ReasonFolder},
		{path: "", reason: bridge.ReasonBadPath},
		{path: "/sub", reason: bridge.ReasonFolder},
		{path: "/sub/", reason: bridge.ReasonFolder},
		{path: "/empty/keep.txt", reason: bridge.ReasonNotExecutable},
		{path: "/plain.txt", reason: bridge.ReasonNotExecutable},
		{path: "/missing.sh", reason: bridge.ReasonNotFound},
		{path: "/.hidden.sh", reason: bridge.ReasonHidden},
		{path: "/.dot/inside.sh", reason: bridge.ReasonHidden},
		{path: "/../outside.sh", reason: bridge.ReasonBadPath},
		{path: "/sub/../../outside.sh", reason: bridge.ReasonBadPath},
		{path: "/sub/../chat.sh", reason: bridge.ReasonBadPath},
		{path: "/./chat.sh", reason: bridge.ReasonBadPath},
		{path: "/chat.sh/../x", reason: bridge.ReasonBadPath},
		{path: "/link-out.sh", reason: bridge.ReasonOutside},
		{path: "/link-abs.sh", reason: bridge.ReasonOutside},
		{path: "/chat.sh\x00", reason: bridge.ReasonBadPath},
		{path: "/link-abs-in.sh", reason: bridge.ReasonAbsoluteLink},
		{path: "/link-dangling.sh", reason: bridge.ReasonNotFound},
		{path: "/fifo", reason: bridge.ReasonNotRegular},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			ep, err := d.Lookup(tt.path)
			if tt.file == "" {
				if !errors.Is(err, session.ErrNoEndpoint) {
					t.Fatalf("Lookup(%q) = %+v, %v; want ErrNoEndpoint", tt.path, ep, err)
				}
				var why *bridge.NoEndpointError
				if !errors.As(err, &why) || why.Reason != tt.reason {
					t.Errorf("Lookup(%q): %v; want the reason %q", tt.path, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.path, err)
			}
			want := filepath.Join(real, tt.file)
			if ep.Command.Path != want || len(ep.Command.Args) != 1 {
				t.Errorf("command = %q %q, want %q", ep.Command.Path, ep.Command.Args, want)
			}
			if ep.ScriptName != tt.scriptName || ep.PathInfo != tt.pathInfo {
				t.Errorf("SCRIPT_NAME=%q PATH_INFO=%q, want %q %q", ep.ScriptName, ep.PathInfo, tt.scriptName, tt.pathInfo)
			}
		})
	}
}

func TestOpenScriptDirErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	for _, dir := range []string{file, filepath.Join(t.TempDir(), "missing")} {
		if _, err := bridge.OpenScriptDir(dir); err == nil {
			t.Errorf("OpenScriptDir(%q): no error", dir)
		}
	}
}

func TestWithin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir, path string
		want      bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b", "/a/b/c", true},
		{"/a/b", "/a/bc", false},
		{"/a/b", "/a", false},
		{"/", "/x", true},
	}
	for _, tt := range tests {
		if got := bridge.Within(tt.dir, tt.path); got != tt.want {
			t.Errorf("Within(%q, %q) = %v", tt.dir, tt.path, got)
		}
	}
}

// TestCleanPath: net/http's rule, which websocketd redirects by; a clean
// path has nothing URLSegments refuses for being unclean.
func TestCleanPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ path, want string }{
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"", "/"},
		{"a/b", "/a/b"},
		{"//a", "/a"},
		{"/a//b//", "/a/b/"},
		{"/./a", "/a"},
		{"/a/.", "/a"},
		{"/a/./", "/a/"},
		{"/a/..", "/"},
		{"/a/../", "/"},
		{"/sub/../hello.sh", "/hello.sh"},
		{"/../../etc/passwd", "/etc/passwd"},
		{"/..", "/"},
		{"/a/b/../../..//c/", "/c/"},
		{`/x/../\evil`, `/\evil`},
		{"/.hidden", "/.hidden"},
		{"/a..b/...", "/a..b/..."},
	}
	for _, tt := range tests {
		got := bridge.CleanPath(tt.path)
		if got != tt.want {
			t.Errorf("CleanPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
		if bridge.CleanPath(got) != got {
			t.Errorf("CleanPath(%q) = %q is not clean itself", tt.path, got)
		}
		if segs, ok := bridge.URLSegments(got); !ok {
			t.Errorf("URLSegments(%q) refused a clean path", got)
		} else {
			for i, seg := range segs {
				if seg == "" && i != len(segs)-1 {
					t.Errorf("URLSegments(%q): empty segment %d", got, i)
				}
			}
		}
	}
}

func TestScriptDirNotExecutableHint(t *testing.T) {
	t.Parallel()
	d, err := bridge.OpenScriptDir(scriptTree(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	_, err = d.Lookup("/plain.txt")
	var why *bridge.NoEndpointError
	if !errors.As(err, &why) || why.Hint != "chmod +x "+filepath.Join(d.Base(), "plain.txt") {
		t.Errorf("Lookup: %#v, want a chmod +x hint naming the file", err)
	}
}

func TestScriptDirMayHoldEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]os.FileMode // os.ModeSymlink: a link to "sub"
		want  bool
	}{
		{"empty", nil, false},
		{"only plain files", map[string]os.FileMode{"a.sh": 0o644, "sub/b.sh": 0o600}, false},
		{"only hidden executables", map[string]os.FileMode{".a.sh": 0o755, ".dot/b.sh": 0o755}, false},
		{"executable at the top", map[string]os.FileMode{"a.txt": 0o644, "a.sh": 0o755}, true},
		{"executable deep down", map[string]os.FileMode{"a/b/c/d.sh": 0o700}, true},
		{"too deep to tell", map[string]os.FileMode{"1/2/3/4/5/6/7/8/9/10/x.txt": 0o644}, true},
		{"linked folder", map[string]os.FileMode{"sub/x.txt": 0o644, "link": os.ModeSymlink}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, mode := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				var err error
				if mode == os.ModeSymlink {
					err = os.Symlink("sub", p)
				} else {
					err = os.WriteFile(p, []byte("#!/bin/sh\n"), mode)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			d, err := bridge.OpenScriptDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if got := d.MayHoldEndpoint(); got != tt.want {
				t.Errorf("MayHoldEndpoint() = %v, want %v", got, tt.want)
			}
		})
	}
}
