package bridge

import (
	"io/fs"
)

// Bounds of the startup scan of a --dir folder: a huge tree is not walked
// to the end only to say something useful about a small one.
const (
	scanMaxDepth   = 8
	scanMaxEntries = 10000
)

// MayHoldEndpoint reports whether the folder seems to hold an endpoint: an
// executable regular file outside dotfiles and dot-folders. It says false
// only when it looked everywhere: a tree larger than the scan's bounds, or
// a symbolic link to a folder (which a lookup follows and the scan does
// not), gives true. For the startup warning of a folder where every upgrade
// would get 404.
func (d *ScriptDir) MayHoldEndpoint() bool {
	fsys := d.root.FS()
	entries := 0
	found := false
	fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		switch {
		case found:
			return fs.SkipAll
		case err != nil && p == ".":
			found = true // unknown: do not warn
			return fs.SkipAll
		case err != nil || p == ".":
			return nil
		}
		if entries++; entries > scanMaxEntries {
			found = true // unknown: do not warn
			return fs.SkipAll
		}
		if Hidden(e.Name()) {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		info, err := fs.Stat(fsys, p) // follows links inside the folder
		if err != nil {
			return nil
		}
		switch {
		case info.IsDir() && e.Type()&fs.ModeSymlink != 0:
			found = true // a lookup would go there; the walk does not
			return fs.SkipAll
		case info.IsDir():
			if depth(p) >= scanMaxDepth {
				found = true
				return fs.SkipAll
			}
		case info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0:
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found
}

// depth is how many folders down p lies: "a" is 1, "a/b" 2.
func depth(p string) int {
	n := 1
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			n++
		}
	}
	return n
}
