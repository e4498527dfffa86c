package terminal_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsbridge/wsbridge/bridge/terminal"
)

func TestParseControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    terminal.ControlMsg
		wantErr error
	}{
		{`{"type":"resize","cols":80,"rows":24}`, terminal.ControlMsg{Type: "resize", Cols: 80, Rows: 24}, nil},
		{`{"type":"pause"}`, terminal.ControlMsg{Type: "pause"}, nil},
		{` {"rows":2, "type":"resume", "extra":[1,{"a":null}]} `, terminal.ControlMsg{Type: "resume", Rows: 2}, nil},
		{`{"type":"future-message","payload":{"x":1}}`, terminal.ControlMsg{Type: "future-message"}, nil},
		{`{}`, terminal.ControlMsg{}, nil},
		{`{"type":"resize","cols":"80","rows":24}`, terminal.ControlMsg{}, terminal.ErrBadControl},
		{`{"type":"resize","cols":80.5,"rows":24}`, terminal.ControlMsg{}, terminal.ErrBadControl},
		{`{"type":3}`, terminal.ControlMsg{}, terminal.ErrBadControl},
		{`[1,2]`, terminal.ControlMsg{}, terminal.ErrBadControl},
		{`"resize"`, terminal.ControlMsg{}, terminal.ErrBadControl},
		{`{"type":"pause"`, terminal.ControlMsg{}, terminal.ErrBadControl},
		{`pause`, terminal.ControlMsg{}, terminal.ErrBadControl},
		{"{\"type\":\"p\xffause\"}", terminal.ControlMsg{}, terminal.ErrBadControl},
		{``, terminal.ControlMsg{}, terminal.ErrBadControl},
	}
	for _, tt := range tests {
		got, err := terminal.ParseControl([]byte(tt.in))
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("ParseControl(%q) = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReadControlLimit(t *testing.T) {
	t.Parallel()
	pad := func(n int) string {
		s := `{"type":"x","p":"`
		return s + strings.Repeat("a", n-len(s)-2) + `"}`
	}
	if _, err := terminal.ReadControl(strings.NewReader(pad(4096))); err != nil {
		t.Fatalf("4096 bytes: %v", err)
	}
	if _, err := terminal.ReadControl(strings.NewReader(pad(4097))); !errors.Is(err, terminal.ErrControlTooBig) {
		t.Fatalf("4097 bytes: %v, want too big", err)
	}
}
