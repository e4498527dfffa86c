// Package static serves what wsbridge answers plain HTTP requests with: the
// files of --staticdir, behind guards websocketd lacked, and the embedded
// --devconsole page.
package static

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wsbridge/wsbridge/bridge"
)

// FileServer serves the files under one folder (--staticdir) for GET and
// HEAD, through http.ServeContent: Content-Type from the name (or sniffed),
// ETag and Last-Modified, conditional and range requests.
//
// Unlike http.FileServer over http.Dir it never serves a dotfile or anything
// in a dot-folder, never lists a folder (a folder is served by its
// index.html or not at all), never leaves the folder, by ".." or by a
// symbolic link (a link, absolute or relative, is followed only when its
// target lies inside the folder, and that target obeys the same rules;
// files are opened through an os.Root), and never serves a script as
// source: nothing inside an excluded folder (a --cgidir nested in it), and
// no executable inside a folder of endpoints (a --dir, which may share its
// folder with the pages that use it).
type FileServer struct {
	root     *os.Root
	base     string
	excluded []string
	noExec   []string
	notFound http.Handler
}

// Options configure a FileServer.
type Options struct {
	// Exclude lists folders whose files are never served, even when they
	// are reached through the served folder or a link in it.
	Exclude []string
	// HideExecutables lists folders whose executable files are never
	// served; their other files are.
	HideExecutables []string
	// NotFound answers requests for which there is no file to serve;
	// nil: a plain 404.
	NotFound http.Handler
}

// NewFileServer serves dir.
func NewFileServer(dir string, opts Options) (*FileServer, error) {
	base, err := bridge.RealDir(dir)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(base)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	fs := &FileServer{root: root, base: base, notFound: opts.NotFound}
	if fs.notFound == nil {
		fs.notFound = http.NotFoundHandler()
	}
	for _, list := range []struct {
		in  []string
		out *[]string
	}{{opts.Exclude, &fs.excluded}, {opts.HideExecutables, &fs.noExec}} {
		for _, dir := range list.in {
			real, err := bridge.RealDir(dir)
			if err != nil {
				root.Close()
				return nil, err
			}
			*list.out = append(*list.out, real)
		}
	}
	for _, ex := range fs.excluded {
		if bridge.Within(ex, base) {
			root.Close()
			return nil, fmt.Errorf("%s lies inside %s, whose files are never served", dir, ex)
		}
	}
	return fs, nil
}

// Close releases the folder.
func (fs *FileServer) Close() error { return fs.root.Close() }

func (fs *FileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel, ok := cleanRel(r.URL.Path)
	if !ok {
		fs.notFound.ServeHTTP(w, r)
		return
	}
	inner, real, info, ok := fs.resolve(rel)
	if !ok {
		fs.notFound.ServeHTTP(w, r)
		return
	}
	if info.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			// Relative, so a path like //host cannot redirect elsewhere.
			target := &url.URL{Path: path.Base(r.URL.Path) + "/", RawQuery: r.URL.RawQuery}
			w.Header().Set("Location", target.String())
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		if inner, real, info, ok = fs.resolve(path.Join(inner, "index.html")); !ok {
			fs.notFound.ServeHTTP(w, r)
			return
		}
	}
	if !info.Mode().IsRegular() || fs.isExcluded(real, info) {
		fs.notFound.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	f, err := fs.root.Open(inner)
	if err != nil {
		fs.notFound.ServeHTTP(w, r)
		return
	}
	defer f.Close()
	if opened, err := f.Stat(); err != nil || !os.SameFile(info, opened) {
		// Changed since resolve looked at it.
		fs.notFound.ServeHTTP(w, r)
		return
	}
	w.Header().Set("ETag", etag(info))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, info.Name(), info.ModTime(), f)
}

// cleanRel turns a URL path into a path relative to the folder, refusing
// dot segments (".", "..", dotfiles, dot-folders) and NUL bytes. The URL path
// is already percent-decoded, so %2e%2e is caught here too.
func cleanRel(urlPath string) (string, bool) {
	segs, ok := bridge.URLSegments(urlPath)
	if !ok {
		return "", false
	}
	rel := "."
	for _, seg := range segs {
		if seg == "" {
			continue
		}
		if bridge.Hidden(seg) {
			return "", false
		}
		rel = path.Join(rel, seg)
	}
	return rel, true
}

// resolve follows the path rel, one segment at a time, and returns the
// file's path inside the folder with no link left in it (inner), its
// absolute real path and its FileInfo. A symbolic link on the way is
// followed, absolute or relative, only when it lands inside the folder;
// os.Root alone would refuse every absolute link, even one to a file of the
// folder. The file found must not be a dotfile or in a dot-folder: a link
// does not get around the rules of the URL. It is then opened through the
// root all the same, so a link swapped in meanwhile cannot leave the folder.
func (fs *FileServer) resolve(rel string) (inner, real string, info os.FileInfo, ok bool) {
	real = fs.base
	if rel != "." {
		for _, seg := range strings.Split(rel, "/") {
			next := filepath.Join(real, seg)
			li, err := os.Lstat(next)
			if err != nil {
				return "", "", nil, false
			}
			if li.Mode()&os.ModeSymlink != 0 {
				if next, err = filepath.EvalSymlinks(next); err != nil || !bridge.Within(fs.base, next) {
					return "", "", nil, false
				}
			}
			real = next
		}
	}
	inner, err := filepath.Rel(fs.base, real)
	if err != nil {
		return "", "", nil, false
	}
	inner = filepath.ToSlash(inner)
	if inner != "." {
		for _, seg := range strings.Split(inner, "/") {
			if bridge.Hidden(seg) {
				return "", "", nil, false
			}
		}
	}
	if info, err = fs.root.Lstat(inner); err != nil || info.Mode()&os.ModeSymlink != 0 {
		return "", "", nil, false
	}
	return inner, real, info, true
}

// isExcluded reports whether the file at real (its path with no link left)
// lies in an excluded folder, or is an executable in a folder of
// endpoints, however it was reached.
func (fs *FileServer) isExcluded(real string, info os.FileInfo) bool {
	for _, ex := range fs.excluded {
		if bridge.Within(ex, real) {
			return true
		}
	}
	if info.Mode().Perm()&0o111 != 0 {
		for _, ex := range fs.noExec {
			if bridge.Within(ex, real) {
				return true
			}
		}
	}
	return false
}

// etag is a strong validator from the file's size and modification time,
// like nginx's.
func etag(info os.FileInfo) string {
	return `"` + strconv.FormatInt(info.ModTime().UnixNano(), 16) + "-" + strconv.FormatInt(info.Size(), 16) + `"`
}
