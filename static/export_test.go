package static

import (
	"io/fs"
	"net/http"
)

// NewTerminalFS lets static_test serve the page from a test file system.
func NewTerminalFS(fsys fs.FS, opts TerminalPageOptions) http.Handler { return newTerminal(fsys, opts) }

// AcceptsGzip exposes acceptsGzip's header parsing to the tests.
var AcceptsGzip = acceptsGzip
