package bridge_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wsbridge/wsbridge/bridge"
)

func TestOriginPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allowed []string
		same    bool
		origin  string // "-": no Origin header
		host    string
		tls     bool
		proxied bool // a trusted proxy said HTTPS (HTTPS=on)
		ok      bool
	}{
		{name: "no policy, no origin", origin: "-", ok: true},
		{name: "no policy, foreign", origin: "https://evil.example", ok: true},
		{name: "host any port", allowed: []string{"example.com"}, origin: "http://example.com:8080", ok: true},
		{name: "host default port", allowed: []string{"example.com"}, origin: "https://example.com", ok: true},
		{name: "host case", allowed: []string{"Example.COM"}, origin: "http://example.com", ok: true},
		{name: "other host", allowed: []string{"example.com"}, origin: "http://example.org", ok: false},
		{name: "subdomain is other", allowed: []string{"example.com"}, origin: "http://a.example.com", ok: false},
		{name: "port exact", allowed: []string{"example.com:8080"}, origin: "http://example.com:8080", ok: true},
		{name: "port mismatch", allowed: []string{"example.com:8080"}, origin: "http://example.com:8081", ok: false},
		{name: "port 80 explicit vs default", allowed: []string{"example.com:80"}, origin: "http://example.com", ok: true},
		{name: "port 443 implied by https", allowed: []string{"example.com:443"}, origin: "https://example.com", ok: true},
		{name: "port 443 not by http", allowed: []string{"example.com:443"}, origin: "http://example.com", ok: false},
		{name: "scheme https only", allowed: []string{"https://example.com"}, origin: "http://example.com", ok: false},
		{name: "scheme https ok", allowed: []string{"https://example.com"}, origin: "https://example.com:9", ok: true},
		{name: "no scheme: not file", allowed: []string{"example.com"}, origin: "file://example.com", ok: false},
		{name: "list, second", allowed: []string{"a.example", "b.example:1"}, origin: "http://b.example:1", ok: true},
		{name: "comma list", allowed: []string{"a.example, b.example"}, origin: "http://b.example", ok: true},
		{name: "ipv6", allowed: []string{"[::1]:8080"}, origin: "http://[::1]:8080", ok: true},
		{name: "list, missing origin", allowed: []string{"example.com"}, origin: "-", ok: false},
		{name: "list, null origin", allowed: []string{"example.com"}, origin: "null", ok: false},
		{name: "list, garbage", allowed: []string{"example.com"}, origin: "example.com", ok: false},
		{name: "same origin", same: true, origin: "http://srv.example:8080", host: "srv.example:8080", ok: true},
		{name: "same origin, case", same: true, origin: "http://SRV.example", host: "srv.example:80", ok: true},
		{name: "same origin, other port", same: true, origin: "http://srv.example:8081", host: "srv.example:8080", ok: false},
		{name: "same origin, tls default", same: true, origin: "https://srv.example", host: "srv.example", tls: true, ok: true},
		{name: "same origin, TLS ended at a trusted proxy", same: true, origin: "https://srv.example", host: "srv.example", proxied: true, ok: true},
		{name: "same origin, plain and no proxy", same: true, origin: "https://srv.example", host: "srv.example", ok: false},
		{name: "same origin, missing", same: true, origin: "-", host: "srv.example", ok: false},
		{name: "same origin and list", same: true, allowed: []string{"other.example"}, origin: "http://srv.example", host: "srv.example", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := bridge.NewOriginPolicy(tt.allowed, tt.same)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			if tt.origin != "-" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.host != "" {
				r.Host = tt.host
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proxied {
				r = bridge.WithEnv(r, "HTTPS=on")
			}
			if err := p.Check(r); (err == nil) != tt.ok {
				t.Errorf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestOriginPolicyBadEntries(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"ftp://example.com", "example.com/path", "http://", "example.com:", "user@example.com"} {
		if _, err := bridge.NewOriginPolicy([]string{bad}, false); err == nil {
			t.Errorf("NewOriginPolicy(%q): no error", bad)
		}
	}
}

func TestOriginMiddleware(t *testing.T) {
	t.Parallel()
	p, err := bridge.NewOriginPolicy([]string{"good.example"}, false)
	if err != nil {
		t.Fatal(err)
	}
	h := p.Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	tests := []struct {
		name    string
		upgrade bool
		origin  string
		want    int
	}{
		{"upgrade refused", true, "http://evil.example", http.StatusForbidden},
		{"upgrade allowed", true, "http://good.example", 299},
		{"plain request passes", false, "http://evil.example", 299},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Origin", tt.origin)
			if tt.upgrade {
				r.Header.Set("Connection", "Upgrade")
				r.Header.Set("Upgrade", "websocket")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d", w.Code, tt.want)
			}
		})
	}
}

// TestOwnOriginPolicy: the default with credentials or a terminal admits
// this server's own origin, scheme included, and programs without Origin.
func TestOwnOriginPolicy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, origin, host string
		tls, proxied, ok   bool
	}{
		{name: "own", origin: "http://srv.example:8080", host: "srv.example:8080", ok: true},
		{name: "no Origin: a program", origin: "-", host: "srv.example:8080", ok: true},
		{name: "foreign", origin: "http://evil.example:8080", host: "srv.example:8080"},
		{name: "null", origin: "null", host: "srv.example:8080"},
		{name: "https page on the plain port", origin: "https://srv.example:8080", host: "srv.example:8080"},
		{name: "http page on the TLS port", origin: "http://srv.example:8443", host: "srv.example:8443", tls: true},
		{name: "own over TLS", origin: "https://srv.example:8443", host: "srv.example:8443", tls: true, ok: true},
		{name: "TLS ended at a trusted proxy", origin: "https://srv.example", host: "srv.example:443", proxied: true, ok: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tt.host
			if tt.origin != "-" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proxied {
				r = bridge.WithEnv(r, "HTTPS=on")
			}
			if err := bridge.OwnOriginPolicy().Check(r); (err == nil) != tt.ok {
				t.Errorf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
