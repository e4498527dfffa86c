package auth_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wsbridge/wsbridge/bridge/auth"
)

func TestAccessToken(t *testing.T) {
	t.Parallel()
	var logBuf bytes.Buffer
	var refused atomic.Int32
	a := auth.NewAccessToken(slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug - 10})))
	a.OnRefuse = func() { refused.Add(1) }
	tok, cookie := a.Token(), a.CookieName()
	if len(tok) < 26 || !strings.HasPrefix(cookie, auth.AccessCookiePrefix) {
		t.Fatalf("token %q, cookie %q", tok, cookie)
	}
	if other := auth.NewAccessToken(nil); other.Token() == tok || other.CookieName() == cookie {
		t.Fatalf("two tokens alike: %q %q", other.Token(), other.CookieName())
	}

	type seen struct{ query, uri, cookie string }
	tests := []struct {
		name     string
		target   string
		upgrade  bool
		cookies  string
		status   int
		location string // of the 303
		setsCook bool
		next     *seen // what the next handler got; nil: not called
	}{
		{name: "nothing", target: "/", status: 403},
		{name: "nothing upgrade", target: "/", upgrade: true, status: 403},
		{name: "wrong query", target: "/?token=nope", status: 403},
		{name: "empty query", target: "/?token=", status: 403},
		{name: "wrong cookie", target: "/", cookies: cookie + "=nope", status: 403},
		{name: "other server's cookie", target: "/", cookies: auth.AccessCookiePrefix + "00000000=" + tok, status: 403},
		{name: "wrong query beats right cookie", target: "/?token=nope", cookies: cookie + "=" + tok, status: 403},
		{name: "page with token", target: "/?cols=80&token=" + tok + "&rows=24", status: 303,
			location: "./?cols=80&rows=24", setsCook: true},
		{name: "page with token only", target: "/sub/page?token=" + tok, status: 303,
			location: "./page", setsCook: true},
		{name: "page with cookie", target: "/?a=1", cookies: "x=1; " + cookie + "=" + tok + "; y=2", status: 200,
			next: &seen{query: "a=1", uri: "/?a=1", cookie: "x=1; y=2"}},
		{name: "upgrade with token", target: "/?token=" + tok + "&arg=-l", upgrade: true, status: 200,
			next: &seen{query: "arg=-l", uri: "/?arg=-l"}},
		{name: "upgrade with cookie", target: "/", upgrade: true, cookies: cookie + "=" + tok, status: 200,
			next: &seen{uri: "/"}},
	}
	refusals := int32(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *seen
			h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = &seen{query: r.URL.RawQuery, uri: r.RequestURI, cookie: r.Header.Get("Cookie")}
			}))
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.upgrade {
				r.Header.Set("Connection", "Upgrade")
				r.Header.Set("Upgrade", "websocket")
			}
			if tt.cookies != "" {
				r.Header.Set("Cookie", tt.cookies)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tt.status, w.Body)
			}
			if tt.status == 403 {
				refusals++
				if !strings.Contains(w.Body.String(), "access token") {
					t.Errorf("403 body %q does not say what is missing", w.Body)
				}
			}
			if loc := w.Header().Get("Location"); loc != tt.location {
				t.Errorf("Location %q, want %q", loc, tt.location)
			}
			set := w.Header().Get("Set-Cookie")
			if wantSet := cookie + "=" + tok + "; Path=/; HttpOnly; SameSite=Lax"; tt.setsCook != (set == wantSet) {
				t.Errorf("Set-Cookie %q, want it %v (%q)", set, tt.setsCook, wantSet)
			}
			switch {
			case tt.next == nil && got != nil:
				t.Errorf("next handler called with %+v", *got)
			case tt.next != nil && got == nil:
				t.Errorf("next handler not called")
			case tt.next != nil && *got != *tt.next:
				t.Errorf("next handler got %+v, want %+v", *got, *tt.next)
			}
		})
	}
	if n := refused.Load(); n != refusals {
		t.Errorf("OnRefuse called %d times, want %d", n, refusals)
	}
	if got := strings.Count(logBuf.String(), "reason=token"); int32(got) != refusals {
		t.Errorf("%d refusals logged with reason=token, want %d:\n%s", got, refusals, logBuf.String())
	}
	if strings.Contains(logBuf.String(), tok) {
		t.Errorf("the log shows the token:\n%s", logBuf.String())
	}
}

// TestAccessTokenOf: a token of --token-file guards as a random one does;
// only URL- and cookie-safe tokens of 16 characters or more are taken.
func TestAccessTokenOf(t *testing.T) {
	t.Parallel()
	const tok = "pinned-Token_0123456789"
	if err := auth.CheckAccessToken(tok); err != nil {
		t.Fatal(err)
	}
	a := auth.NewAccessTokenOf(tok, nil)
	if a.Token() != tok {
		t.Fatalf("Token() = %q", a.Token())
	}
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for target, want := range map[string]int{"/?token=" + tok: http.StatusSeeOther, "/?token=pinned-Token_012345678": http.StatusForbidden, "/": http.StatusForbidden} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		if w.Code != want {
			t.Errorf("GET %s: %d, want %d", target, w.Code, want)
		}
	}
	for _, bad := range []string{"", "short", "fifteen-chars-x", "has space in the token", "semi;colon-0123456789", "quote\"0123456789abc"} {
		if auth.CheckAccessToken(bad) == nil {
			t.Errorf("CheckAccessToken(%q): accepted", bad)
		}
	}
}
