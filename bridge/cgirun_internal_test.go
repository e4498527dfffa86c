package bridge

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadCGIHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, out string
		status    int    // 0: an error
		header    string // "Name: value" of one header to check
		rest      string // what is left for the body
	}{
		{"content type", "Content-Type: text/plain\r\n\r\nbody", 200, "Content-Type: text/plain", "body"},
		{"bare newlines", "Content-Type: text/plain\nX-A: 1\n\nbody", 200, "X-A: 1", "body"},
		{"status", "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n", 404, "Content-Type: text/plain", ""},
		{"status lower case", "status: 201\r\nContent-Type: text/plain\r\n\r\n", 201, "Content-Type: text/plain", ""},
		{"status alone", "Status: 204\r\n\r\n", 204, "", ""},
		{"location redirect", "Location: https://example.com/\r\n\r\n", 302, "Location: https://example.com/", ""},
		{"location with status", "Status: 301\r\nLocation: /x\r\n\r\n", 301, "Location: /x", ""},
		{"value trimmed", "Content-Type:   text/html  \r\n\r\n", 200, "Content-Type: text/html", ""},
		{"no content type", "X-A: 1\r\n\r\n", 0, "", ""},
		{"no header", "\r\nbody", 0, "", ""},
		{"no blank line", "Content-Type: text/plain\r\n", 0, "", ""},
		{"nothing", "", 0, "", ""},
		{"bad status", "Status: abc\r\nContent-Type: text/plain\r\n\r\n", 0, "", ""},
		{"not a header", "hello world\r\n\r\n", 0, "", ""},
		{"bad name", "Bad Name: x\r\nContent-Type: text/plain\r\n\r\n", 0, "", ""},
		{"too long", "X-A: " + strings.Repeat("a", 5000) + "\r\n\r\n", 0, "", ""},
		{"too many", strings.Repeat("X-A: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n", 0, "", ""},
	}
	for _, tt := range tests {
		out := bufio.NewReaderSize(strings.NewReader(tt.out), 4096)
		status, header, err := readCGIHeader(out)
		if tt.status == 0 {
			if err == nil {
				t.Errorf("%s: status %d, want an error", tt.name, status)
			}
			continue
		}
		if err != nil || status != tt.status {
			t.Errorf("%s: %d %v, want %d", tt.name, status, err, tt.status)
			continue
		}
		if name, value, ok := strings.Cut(tt.header, ": "); ok && header.Get(name) != value {
			t.Errorf("%s: %s=%q, want %q", tt.name, name, header.Get(name), value)
		}
		if rest, _ := out.ReadString(0); rest != tt.rest {
			t.Errorf("%s: body %q, want %q", tt.name, rest, tt.rest)
		}
	}
}
