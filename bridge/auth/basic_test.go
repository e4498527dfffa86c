package auth_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wsbridge/wsbridge/bridge/auth"
)

func credentialFile(t *testing.T) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "creds")
	content := "# users\n\ncarol:plain:with:colons\ndave:" + string(hash) + "\n"
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAuthVerify(t *testing.T) {
	t.Parallel()
	a, err := auth.NewBasic(auth.BasicOptions{
		Credentials: []string{"alice:wonder land", "bob:$2a$10$notahashbutapassword"},
		Files:       []string{credentialFile(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, password string
		want           bool
	}{
		{"alice", "wonder land", true},
		{"alice", "wonder", false},
		{"alice", "", false},
		{"Alice", "wonder land", false},
		{"bob", "$2a$10$notahashbutapassword", true}, // a flag's secret is always a password
		{"carol", "plain:with:colons", true},
		{"dave", "hashed-secret", true},
		{"dave", "hashed-secret", true}, // second time from the cache
		{"dave", "wrong", false},
		{"nobody", "hashed-secret", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := a.Verify(tt.user, tt.password); got != tt.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", tt.user, tt.password, got, tt.want)
		}
	}
}

func TestNewAuthErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("ok:pw\nnocolon-supersecret\n"), 0o600)
	badHash := filepath.Join(t.TempDir(), "badhash")
	os.WriteFile(badHash, []byte("eve:$2a$10$short\n"), 0o600)
	tests := []struct {
		name string
		opts auth.BasicOptions
	}{
		{"none", auth.BasicOptions{}},
		{"no colon", auth.BasicOptions{Credentials: []string{"justauser"}}},
		{"empty user", auth.BasicOptions{Credentials: []string{":pw"}}},
		{"missing file", auth.BasicOptions{Files: []string{filepath.Join(t.TempDir(), "nope")}}},
		{"bad line", auth.BasicOptions{Files: []string{bad}}},
		{"bad hash", auth.BasicOptions{Files: []string{badHash}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.NewBasic(tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "supersecret") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

// seen records what reached the protected handler.
type seen struct {
	auth, cookie string
}

func authServer(t *testing.T, now func() time.Time, logs *bytes.Buffer) (http.Handler, *atomic.Pointer[seen]) {
	t.Helper()
	a, err := auth.NewBasic(auth.BasicOptions{
		Credentials: []string{"alice:s3cret-pw"},
		Now:         now,
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	var last atomic.Pointer[seen]
	return a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(&seen{auth: r.Header.Get("Authorization"), cookie: r.Header.Get("Cookie")})
		w.WriteHeader(299)
	})), &last
}

func TestAuthMiddleware(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var clock atomic.Int64
	clock.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	h, last := authServer(t, now, &logs)

	do := func(upgrade bool, setup func(*http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/page", nil)
		if upgrade {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
		}
		if setup != nil {
			setup(r)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	// No credentials: 401 with a challenge, upgrade or not.
	for _, up := range []bool{false, true} {
		w := do(up, nil)
		if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic realm=") {
			t.Fatalf("upgrade=%v: %d %q", up, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	if w := do(false, func(r *http.Request) { r.SetBasicAuth("alice", "wrong-pw") }); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", w.Code)
	}

	// Good credentials on a page: through, without the Authorization
	// header, and with a token cookie.
	w := do(false, func(r *http.Request) {
		r.SetBasicAuth("alice", "s3cret-pw")
		r.Header.Set("Cookie", "theme=dark")
	})
	if w.Code != 299 {
		t.Fatalf("good credentials: %d", w.Code)
	}
	if s := last.Load(); s.auth != "" || s.cookie != "theme=dark" {
		t.Errorf("handler saw Authorization %q Cookie %q", s.auth, s.cookie)
	}
	var token *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == auth.TokenCookie {
			token = c
		}
	}
	if token == nil || !token.HttpOnly || token.SameSite != http.SameSiteStrictMode || token.MaxAge <= 0 {
		t.Fatalf("token cookie = %+v", token)
	}

	// The token lets an upgrade in (Safari), and is not passed on.
	withToken := func(r *http.Request) { r.Header.Set("Cookie", "theme=dark; "+token.Name+"="+token.Value) }
	if w := do(true, withToken); w.Code != 299 {
		t.Fatalf("upgrade with token: %d", w.Code)
	}
	if s := last.Load(); strings.Contains(s.cookie, auth.TokenCookie) {
		t.Errorf("token reached the handler: %q", s.cookie)
	}
	// ...but not a plain request, and not once expired or tampered with.
	if w := do(false, withToken); w.Code != http.StatusUnauthorized {
		t.Errorf("plain request with token: %d", w.Code)
	}
	tampered := func(r *http.Request) { r.Header.Set("Cookie", token.Name+"=x"+token.Value) }
	if w := do(true, tampered); w.Code != http.StatusUnauthorized {
		t.Errorf("tampered token: %d", w.Code)
	}
	clock.Add(int64(auth.TokenTTL/time.Second) + 1)
	if w := do(true, withToken); w.Code != http.StatusUnauthorized {
		t.Errorf("expired token: %d", w.Code)
	}
	if strings.Contains(logs.String(), "s3cret-pw") || strings.Contains(logs.String(), "wrong-pw") {
		t.Errorf("a password reached the log:\n%s", logs.String())
	}
}
