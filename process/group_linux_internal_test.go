//go:build linux && !portable

package process

import "testing"

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		state byte
		pgrp  int
		ok    bool
	}{
		{"123 (sh) S 1 123 123 0 -1", 'S', 123, true},
		{"9 (a (b) c) Z 1 77 77 0", 'Z', 77, true},
		{"garbage", 0, 0, false},
		{"9 (x) S 1", 0, 0, false},
	}
	for _, tt := range tests {
		state, pgrp, ok := parseStat([]byte(tt.in))
		if state != tt.state || pgrp != tt.pgrp || ok != tt.ok {
			t.Errorf("%q: %c %d %v", tt.in, state, pgrp, ok)
		}
	}
	if state, pgrp, sid, ok := parseStatIDs([]byte("123 (sh) S 1 124 125 0 -1")); state != 'S' || pgrp != 124 || sid != 125 || !ok {
		t.Errorf("session: %c %d %d %v", state, pgrp, sid, ok)
	}
}
