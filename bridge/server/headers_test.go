package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      string
		want    Header
		wantErr string
	}{
		{"x-frame-options: DENY", Header{"X-Frame-Options", "DENY"}, ""},
		{"  A:  b c ", Header{"A", "b c"}, ""},
		{"no colon", Header{}, `--header="no colon": want "Name: value"`},
		{"bad name: x", Header{}, `want "Name: value"`},
		{"A: x\x01", Header{}, "control character"},
	} {
		got, err := ParseHeaders("--header", []string{tt.in})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--header=") {
				t.Errorf("%q: err %v, want one naming the flag and %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != 1 || got[0] != tt.want {
			t.Errorf("%q: got %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestWithHeaders(t *testing.T) {
	t.Parallel()
	h := withHeaders([]Header{{"All", "1"}}, []Header{{"Ws", "2"}}, []Header{{"Plain", "3"}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, upgrade := range []bool{false, true} {
		r := httptest.NewRequest("GET", "/", nil)
		if upgrade {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		got := rec.Header()
		if got.Get("All") != "1" || (got.Get("Ws") == "2") != upgrade || (got.Get("Plain") == "3") == upgrade {
			t.Errorf("upgrade %v: headers %v", upgrade, got)
		}
	}
}
