package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/wsbridge/wsbridge/bridge/session"
	"github.com/wsbridge/wsbridge/process"
)

// ScriptDir maps URL paths to the executables under one folder, for --dir
// (WebSocket endpoints) and --cgidir (CGI scripts).
//
// Lookups go through an os.Root, so nothing outside the folder is ever
// reached: ".." segments, their percent-encoded forms (the URL path is
// already decoded) and symbolic links whose target leaves the folder (or is
// absolute) all fail. Dotfiles and dot-folders are never endpoints.
type ScriptDir struct {
	root *os.Root
	base string // the folder's absolute, symlink-free path
}

// OpenScriptDir opens dir for lookups. It stays open for the life of the
// daemon.
func OpenScriptDir(dir string) (*ScriptDir, error) {
	base, err := RealDir(dir)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(base)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return &ScriptDir{root: root, base: base}, nil
}

// RealDir returns dir's absolute path with symbolic links resolved, after
// checking that it is a folder.
func RealDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("folder %q: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("folder %q: %w", dir, err)
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("folder %q: %w", dir, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("folder %q: not a directory", dir)
	}
	return real, nil
}

// Base is the folder's absolute, symlink-free path.
func (d *ScriptDir) Base() string { return d.base }

// Close releases the folder.
func (d *ScriptDir) Close() error { return d.root.Close() }

// Resolve is Lookup for a request's path; it fits Options.Resolve.
func (d *ScriptDir) Resolve(r *http.Request) (session.Endpoint, error) {
	return d.Lookup(r.URL.Path)
}

// Lookup finds the executable a URL path names. The path is walked one
// segment at a time from the folder; the first regular file ends the walk
// and must be executable; what follows it is PATH_INFO. So
// "/sub/chat.sh/room/1" runs DIR/sub/chat.sh with SCRIPT_NAME=/sub/chat.sh
// and PATH_INFO=/room/1. A path that ends on a folder, names something
// missing, a dotfile, a non-executable file or anything outside the folder
// gives a *NoEndpointError (session.ErrNoEndpoint) saying which.
func (d *ScriptDir) Lookup(urlPath string) (session.Endpoint, error) {
	segs, ok := URLSegments(urlPath)
	if !ok {
		return session.Endpoint{}, &NoEndpointError{Reason: ReasonBadPath}
	}
	rel := ""
	for i, seg := range segs {
		if seg == "" {
			continue
		}
		if Hidden(seg) {
			return session.Endpoint{}, &NoEndpointError{Reason: ReasonHidden}
		}
		rel = path.Join(rel, seg)
		info, err := d.root.Stat(rel)
		if err != nil {
			return session.Endpoint{}, d.statFailed(rel, err)
		}
		if info.IsDir() {
			continue
		}
		if !info.Mode().IsRegular() {
			return session.Endpoint{}, &NoEndpointError{Reason: ReasonNotRegular}
		}
		file, err := d.realPath(rel)
		if err != nil {
			return session.Endpoint{}, &NoEndpointError{Reason: ReasonOutside}
		}
		if !process.Executable(file, info.Mode()) {
			return session.Endpoint{}, &NoEndpointError{Reason: ReasonNotExecutable, Hint: process.ExecutableHint(file)}
		}
		pathInfo := ""
		if i+1 < len(segs) {
			pathInfo = "/" + strings.Join(segs[i+1:], "/")
		}
		return session.Endpoint{
			Command:        session.Command{Path: file, Args: []string{file}},
			ScriptName:     "/" + rel,
			PathInfo:       pathInfo,
			PathTranslated: urlPath,
		}, nil
	}
	return session.Endpoint{}, &NoEndpointError{Reason: ReasonFolder}
}

// Why a --dir lookup found no endpoint (NoEndpointError.Reason).
const (
	ReasonNotFound      = "not found"
	ReasonNotExecutable = "not executable"
	ReasonOutside       = "outside the folder"
	ReasonAbsoluteLink  = "absolute symlink"
	ReasonHidden        = "hidden (dotfile)"
	ReasonFolder        = "a folder"
	ReasonNotRegular    = "not a regular file"
	ReasonBadPath       = "bad path"
	ReasonNoEndpoint    = "no WebSocket endpoint"
	ReasonNoRoute       = "no endpoint matches the path"
)

// NoEndpointError is why a request has no endpoint. The gate logs Reason
// and Hint; the client only gets 404, which tells nothing of the folder.
type NoEndpointError struct {
	Reason string
	Hint   string // what the operator may have meant to do, if anything
}

func (e *NoEndpointError) Error() string { return session.ErrNoEndpoint.Error() + ": " + e.Reason }

func (e *NoEndpointError) Unwrap() error { return session.ErrNoEndpoint }

// statFailed says why rel could not be looked up through the root: missing,
// or a symbolic link the root will not follow (one leaving the folder, or
// an absolute one).
func (d *ScriptDir) statFailed(rel string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &NoEndpointError{Reason: ReasonNotFound}
	}
	if info, lerr := d.root.Lstat(rel); lerr == nil && info.Mode()&fs.ModeSymlink != 0 {
		real, rerr := filepath.EvalSymlinks(filepath.Join(d.base, filepath.FromSlash(rel)))
		switch {
		case rerr != nil:
			return &NoEndpointError{Reason: ReasonNotFound}
		case Within(d.base, real):
			return &NoEndpointError{Reason: ReasonAbsoluteLink}
		}
		return &NoEndpointError{Reason: ReasonOutside}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is the request's, logged anyway
	}
	return &NoEndpointError{Reason: ReasonNotFound + ": " + err.Error()}
}

// URLSegments splits a URL path into its segments, for a lookup under a
// served folder (--dir, --cgidir, --staticdir). It refuses what may never
// name anything there: a path that is not absolute, a NUL byte, and "." or
// ".." segments, also percent-encoded ones, since the path is already
// decoded. Empty segments ("//") are kept; a lookup skips them.
func URLSegments(urlPath string) ([]string, bool) {
	if !strings.HasPrefix(urlPath, "/") || strings.IndexByte(urlPath, 0) >= 0 {
		return nil, false
	}
	segs := strings.Split(urlPath[1:], "/")
	for _, seg := range segs {
		if seg == "." || seg == ".." {
			return nil, false
		}
	}
	return segs, true
}

// CleanPath is the canonical form of an absolute URL path, by the rule
// net/http's ServeMux redirects by (and so websocketd): "." and ".."
// segments resolved without ever climbing above "/", repeated slashes
// collapsed, a trailing slash kept. A path equal to its CleanPath has no
// empty, "." or ".." segment, so URLSegments refuses nothing in it for
// being unclean.
func CleanPath(urlPath string) string {
	if !strings.HasPrefix(urlPath, "/") {
		urlPath = "/" + urlPath
	}
	clean := path.Clean(urlPath)
	if strings.HasSuffix(urlPath, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// Hidden reports whether a path segment names a dotfile or dot-folder,
// which is never served.
func Hidden(seg string) bool { return strings.HasPrefix(seg, ".") }

// realPath resolves rel, already checked through the root, to the absolute
// path of the file it names, and checks again that it lies inside the
// folder: the child is started by path, not through the root.
func (d *ScriptDir) realPath(rel string) (string, error) {
	real, err := filepath.EvalSymlinks(filepath.Join(d.base, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	if !Within(d.base, real) {
		return "", errors.New("outside the folder")
	}
	return real, nil
}

// Within reports whether path is dir or lies below it. Both must be clean
// absolute paths.
func Within(dir, path string) bool {
	if path == dir {
		return true
	}
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return strings.HasPrefix(path, dir+string(filepath.Separator))
}
