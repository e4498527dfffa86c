package server

import (
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/wsbridge/wsbridge/bridge/terminal"
	"github.com/wsbridge/wsbridge/static"
)

// buildTerminalCommand builds the browser terminal's assets, which a plain
// go build does not; the binary must be built again after it.
const buildTerminalCommand = "npm ci --prefix static && npm run build --prefix static"

// terminalPage is the page a plain GET on a terminal endpoint gets. Its
// title until the session's own arrives is --title-format without a client.
// A binary built without the page's assets says so at startup, not only on
// the 503 page a browser gets later.
func terminalPage(cfg *Config, logger *slog.Logger) http.Handler {
	opts := static.TerminalPageOptions{ClientOptions: cfg.Terminal.ClientOptions}
	if opts.ClientOptions == nil {
		opts.ClientOptions = map[string]string{}
	}
	if tmpl := cfg.Terminal.Title; tmpl != nil {
		host, _ := os.Hostname()
		var b strings.Builder
		cmd := strings.Join(cfg.Command, " ")
		if cmd == "" {
			cmd = "wsbridge" // --dir: the script is known per request
		}
		if tmpl.Execute(&b, terminal.TitleData{Command: cmd, Hostname: host}) == nil {
			opts.Title = b.String()
		}
	}
	page := static.Terminal(opts)
	warnIfPageUnavailable(page, logger)
	return page
}

// warnIfPageUnavailable asks page for itself once, as a browser would, and
// logs a warning when it cannot be served: static answers 503 when the
// binary was built without the terminal's assets (only NOT_BUILT.txt in
// static/terminal/dist).
func warnIfPageUnavailable(page http.Handler, logger *slog.Logger) {
	probe := &statusProbe{header: http.Header{}}
	req, err := http.NewRequest(http.MethodGet, "/", nil)
	if err != nil {
		return
	}
	page.ServeHTTP(probe, req)
	if probe.code != http.StatusServiceUnavailable {
		return
	}
	logger.Warn("--terminal: this binary was built without the terminal page, so browsers get 503; run `"+
		buildTerminalCommand+"`, then build wsbridge again", "status", probe.code)
}

// statusProbe is a ResponseWriter that keeps only the status.
type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header { return p.header }

func (p *statusProbe) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}

func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}
