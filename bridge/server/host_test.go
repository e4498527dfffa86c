package server

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestHostGuardAllows(t *testing.T) {
	t.Parallel()
	allowed, err := ParseAllowedHosts([]string{"ws.example.com, .corp.example", "*.wild.example", "Upper.Example."})
	if err != nil {
		t.Fatal(err)
	}
	cert := &tls.Certificate{Leaf: &x509.Certificate{DNSNames: []string{"tls.example", "*.tlswild.example"}}}
	g := &hostGuard{allowed: allowed, hostname: "myhost", cert: func() *tls.Certificate { return cert }}
	for host, want := range map[string]bool{
		"":                           true, // HTTP/1.0 without Host: no browser
		"127.0.0.1:8080":             true,
		"[::1]:8080":                 true,
		"[fe80::1%25eth0]:80":        true,
		"10.1.2.3":                   true,
		"localhost":                  true,
		"LOCALHOST.:8080":            true,
		"app.localhost:8080":         true,
		"myhost:8080":                true,
		"ws.example.com:8080":        true,
		"upper.example":              true,
		"corp.example":               true,
		"a.b.corp.example":           true,
		"x.wild.example":             true,
		"wild.example":               false,
		"tls.example:443":            true,
		"a.tlswild.example":          true,
		"a.b.tlswild.example":        false,
		"tlswild.example":            false,
		"rebind.attacker.example":    false,
		"localhost.attacker.example": false,
		"ws.example.com.evil":        false,
		"evilcorp.example":           false,
		"myhost.evil":                false,
		"127.0.0.1.nip.io":           false,
	} {
		if got := g.allows(host); got != want {
			t.Errorf("allows(%q) = %v, want %v", host, got, want)
		}
	}
	if (&hostGuard{}).allows("ws.example.com") {
		t.Error("no --allowed-host, no certificate: a name is allowed")
	}
}

func TestParseAllowedHosts(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"http://a.example", "a.example:80", "a b", "*", "a..b", "*.", "."} {
		a, err := ParseAllowedHosts([]string{bad})
		if bad == "*" {
			if err != nil || !a.Any {
				t.Errorf("*: %v, Any=%v", err, a != nil && a.Any)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseAllowedHosts(%q): no error", bad)
		}
	}
}
