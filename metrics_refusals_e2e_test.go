package main_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Refusals in front of the session handler (origin, auth) are counted too.
func TestMetricsCountOriginAndAuthRefusals(t *testing.T) {
	t.Parallel()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, "--origin=example.com", "--credential=alice:secret", "--metrics-address="+metricsAddr, "cat")

	upgrade := func(origin string, withCreds bool) int {
		req, _ := http.NewRequest("GET", s.HTTPURL("/"), nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Origin", origin)
		if withCreds {
			req.SetBasicAuth("alice", "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := upgrade("http://evil.example", true); code != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: %d, want 403", code)
	}
	if code := upgrade("http://example.com", false); code != http.StatusUnauthorized {
		t.Fatalf("upgrade without credentials: %d, want 401", code)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`wsbridge_handshakes_refused_total{reason="origin"} 1`,
		`wsbridge_handshakes_refused_total{reason="auth"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}
