package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"text/template"
)

// TestTerminalNotBuiltWarns: a binary built without the terminal's assets
// (static answers 503) says so at startup, naming the build command.
func TestTerminalNotBuiltWarns(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		code int
		warn bool
	}{
		{"not built", http.StatusServiceUnavailable, true},
		{"built", http.StatusOK, false},
	} {
		var logs syncBuffer
		page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.code) })
		warnIfPageUnavailable(page, slog.New(slog.NewTextHandler(&logs, nil)))
		got := logs.String()
		if warned := strings.Contains(got, "level=WARN"); warned != tt.warn {
			t.Errorf("%s: warned %v, want %v: %s", tt.name, warned, tt.warn, got)
		}
		if tt.warn && !strings.Contains(got, "npm ci --prefix static && npm run build --prefix static") {
			t.Errorf("%s: warning does not name the build command: %s", tt.name, got)
		}
	}
}

// TestTerminalPageTitle: the page's first title is --title-format with the
// command and no client.
func TestTerminalPageTitle(t *testing.T) {
	t.Parallel()
	cfg := &Config{Command: []string{"htop", "-d", "5"}, Terminal: &TerminalConfig{
		Title:         template.Must(template.New("t").Parse("[{{.Command}}]")),
		ClientOptions: map[string]string{"fontSize": "16"},
	}}
	page := terminalPage(cfg, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	// The built page is committed, so it is always there.
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: status %d", rec.Code)
	}
	if body := rec.Body.String(); !strings.Contains(body, "[htop -d 5]") || !strings.Contains(body, "fontSize") {
		t.Errorf("page lacks the title or the client option:\n%s", body)
	}
}
