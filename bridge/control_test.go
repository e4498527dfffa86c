package bridge_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsbridge/wsbridge/bridge"
)

func TestParseControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    bridge.ControlMsg
		wantErr error
	}{
		{`{"type":"resize","cols":80,"rows":24}`, bridge.ControlMsg{Type: "resize", Cols: 80, Rows: 24}, nil},
		{`{"type":"pause"}`, bridge.ControlMsg{Type: "pause"}, nil},
		{` {"rows":2, "type":"resume", "extra":[1,{"a":null}]} `, bridge.ControlMsg{Type: "resume", Rows: 2}, nil},
		{`{"type":"future-message","payload":{"x":1}}`, bridge.ControlMsg{Type: "future-message"}, nil},
		{`{}`, bridge.ControlMsg{}, nil},
		{`{"type":"resize","cols":"80","rows":24}`, bridge.ControlMsg{}, bridge.ErrBadControl},
		{`{"type":"resize","cols":80.5,"rows":24}`, bridge.ControlMsg{}, bridge.ErrBadControl},
		{`{"type":3}`, bridge.ControlMsg{}, bridge.ErrBadControl},
		{`[1,2]`, bridge.ControlMsg{}, bridge.ErrBadControl},
		{`"resize"`, bridge.ControlMsg{}, bridge.ErrBadControl},
		{`{"type":"pause"`, bridge.ControlMsg{}, bridge.ErrBadControl},
		{`pause`, bridge.ControlMsg{}, bridge.ErrBadControl},
		{"{\"type\":\"p\xffause\"}", bridge.ControlMsg{}, bridge.ErrBadControl},
		{``, bridge.ControlMsg{}, bridge.ErrBadControl},
	}
	for _, tt := range tests {
		got, err := bridge.ParseControl([]byte(tt.in))
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
	if _, err := bridge.ReadControl(strings.NewReader(pad(4096))); err != nil {
		t.Fatalf("4096 bytes: %v", err)
	}
	if _, err := bridge.ReadControl(strings.NewReader(pad(4097))); !errors.Is(err, bridge.ErrControlTooBig) {
		t.Fatalf("4097 bytes: %v, want too big", err)
	}
}
