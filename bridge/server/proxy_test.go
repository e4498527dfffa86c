package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wsbridge/wsbridge/bridge"
)

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      []string
		want    string
		wantErr bool
	}{
		{[]string{"127.0.0.1/32"}, "127.0.0.1/32", false},
		{[]string{"10.1.2.3/8", "::1"}, "10.0.0.0/8 ::1/128", false},
		{[]string{"192.0.2.7"}, "192.0.2.7/32", false},
		{[]string{" "}, "", false},
		{[]string{"10.0.0.0/33"}, "", true},
		{[]string{"proxy.example"}, "", true},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, " ") != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, s, tt.want)
		}
	}
}

func TestTrustedProxyMiddleware(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies([]string{"127.0.0.0/8", "10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	const (
		xff  = ProxyHeaderXForwardedFor
		real = ProxyHeaderXRealIP
		fwd  = ProxyHeaderForwarded
	)
	// A client's own forged headers, which the proxy passed on.
	forged := map[string]string{"Forwarded": "for=6.6.6.6;proto=https", "X-Real-Ip": "6.6.6.6"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range forged {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		header string // --trusted-proxy-header
		peer   string
		hdrs   map[string]string
		// wantAddr is r.RemoteAddr as the next handler sees it; wantEnv the
		// extra variables, space separated.
		wantAddr, wantEnv string
	}{
		{"no headers", xff, "127.0.0.1:5000", nil, "127.0.0.1:5000", ""},
		{"xff from trusted", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"xff from untrusted ignored", xff, "192.0.2.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
			"192.0.2.1:5000", ""},
		{"xff chain skips trusted hops", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.0.0.5"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"xff spoofed left entry ignored", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "1.2.3.4, 203.0.113.9"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"xff spoofed trusted-looking entry ignored", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "10.0.0.7, 203.0.113.9"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"xff all trusted: leftmost", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "10.0.0.9, 10.0.0.5"},
			"10.0.0.9", "REMOTE_ADDR=10.0.0.9 REMOTE_PORT="},
		{"xff garbage stops walk", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9, nonsense"},
			"127.0.0.1:5000", ""},
		{"xff garbage behind a trusted hop stops walk", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9, unknown, 10.0.0.5"},
			"127.0.0.1:5000", ""},
		{"xff with port", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9:4711"},
			"203.0.113.9:4711", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT=4711"},
		{"xff ipv6", xff, "[::1]:5000", map[string]string{"X-Forwarded-For": "2001:db8::7"},
			"2001:db8::7", "REMOTE_ADDR=2001:db8::7 REMOTE_PORT="},
		{"xff v4-mapped", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "::ffff:203.0.113.9"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"xff proto https", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT= HTTPS=on"},
		{"xff proto last value wins", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-Proto": "https, http"},
			"127.0.0.1:5000", ""},
		{"xff proto alone", xff, "127.0.0.1:5000", map[string]string{"X-Forwarded-Proto": "HTTPS"},
			"127.0.0.1:5000", "HTTPS=on"},
		{"xff ignores forged Forwarded and X-Real-IP", xff, "127.0.0.1:5000", with(map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}),
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"xff missing: Forwarded is not a fallback", xff, "127.0.0.1:5000", forged,
			"127.0.0.1:5000", ""},
		{"real ip", real, "127.0.0.1:5000", map[string]string{"X-Real-Ip": "203.0.113.9", "X-Forwarded-Proto": "https"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT= HTTPS=on"},
		{"real ip ignores xff and Forwarded", real, "127.0.0.1:5000", map[string]string{"X-Real-Ip": "203.0.113.9", "X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6;proto=https"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"real ip garbage", real, "127.0.0.1:5000", map[string]string{"X-Real-Ip": "unknown"},
			"127.0.0.1:5000", ""},
		{"real ip ipv6 with port", real, "127.0.0.1:5000", map[string]string{"X-Real-Ip": "[2001:db8::7]:4711"},
			"[2001:db8::7]:4711", "REMOTE_ADDR=2001:db8::7 REMOTE_PORT=4711"},
		{"forwarded", fwd, "127.0.0.1:5000", map[string]string{"Forwarded": `for="[2001:db8::7]:4711";proto=https, for=10.0.0.5`, "X-Forwarded-For": "198.51.100.1"},
			"[2001:db8::7]:4711", "REMOTE_ADDR=2001:db8::7 REMOTE_PORT=4711 HTTPS=on"},
		{"forwarded forged left element ignored", fwd, "127.0.0.1:5000", map[string]string{"Forwarded": "for=6.6.6.6;proto=https, for=203.0.113.9;proto=http"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"forwarded set by nobody: the client's own is believed", fwd, "127.0.0.1:5000", map[string]string{"Forwarded": "for=6.6.6.6;proto=https"},
			"6.6.6.6", "REMOTE_ADDR=6.6.6.6 REMOTE_PORT= HTTPS=on"},
		{"forwarded ignores X-Forwarded-Proto", fwd, "127.0.0.1:5000", map[string]string{"Forwarded": "for=203.0.113.9", "X-Forwarded-Proto": "https"},
			"203.0.113.9", "REMOTE_ADDR=203.0.113.9 REMOTE_PORT="},
		{"forwarded unknown", fwd, "127.0.0.1:5000", map[string]string{"Forwarded": "for=unknown;proto=https"},
			"127.0.0.1:5000", ""},
		{"forwarded element without for stops walk", fwd, "127.0.0.1:5000", map[string]string{"Forwarded": "for=203.0.113.9, proto=https"},
			"127.0.0.1:5000", ""},
		{"forwarded missing: xff is not a fallback", fwd, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
			"127.0.0.1:5000", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var gotAddr string
			var gotEnv []string
			h := trusted.wrap(tt.header, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAddr = r.RemoteAddr
				gotEnv = bridge.ExtraEnv(r)
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for k, v := range tt.hdrs {
				r.Header.Set(k, v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if gotAddr != tt.wantAddr {
				t.Errorf("RemoteAddr %q, want %q", gotAddr, tt.wantAddr)
			}
			if env := strings.Join(gotEnv, " "); env != tt.wantEnv {
				t.Errorf("env %q, want %q", env, tt.wantEnv)
			}
			if r.RemoteAddr != tt.peer {
				t.Errorf("caller's request changed: %q", r.RemoteAddr)
			}
		})
	}
}

func TestTrustNobodyIsPassThrough(t *testing.T) {
	t.Parallel()
	var none TrustedProxies
	h := http.NotFoundHandler()
	if got := none.wrap(ProxyHeaderXForwardedFor, h); got == nil {
		t.Fatal("nil handler")
	}
}
