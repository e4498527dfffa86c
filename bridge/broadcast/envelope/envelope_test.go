package envelope_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wsbridge/wsbridge/bridge/broadcast/envelope"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line    string
		wantErr string // "" means valid
	}{
		{`{"data":"hi"}`, ""},
		{`{"data":""}`, ""},
		{`{"data":"hi","to":["a","b"]}`, ""},
		{`{"data":"hi","to":[]}`, ""},
		{`{"close":"a","code":4001}`, ""},
		{`{"close":"a","code":4999,"reason":"bye"}`, ""},
		{`not json`, "not a JSON envelope"},
		{`{"data":1}`, "not a JSON envelope"},
		{`{"data":"x","extra":1}`, "not a JSON envelope"},
		{`{"data":"x"} {"data":"y"}`, "more after the object"},
		{`{}`, `needs "data" or "close"`},
		{`{"to":["a"]}`, `needs "data" or "close"`},
		{`{"data":"x","close":"a","code":4001}`, "not both"},
		{`{"data":"x","code":4001}`, `belong to a "close"`},
		{`{"close":"a","code":1000}`, "4000-4999"},
		{`{"close":"a","code":5000}`, "4000-4999"},
		{`{"close":"a"}`, "4000-4999"},
		{`{"close":"a","code":4001,"to":["b"]}`, `"to" belongs`},
		{`{"close":"a","code":4001,"reason":"` + strings.Repeat("x", 124) + `"}`, "123 bytes"},
	} {
		_, err := envelope.Parse([]byte(tc.line))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.line, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: %v, want an error with %q", tc.line, err, tc.wantErr)
		}
	}
}

func TestEventsAreJSONLines(t *testing.T) {
	t.Parallel()
	c := envelope.ClientInfo{ID: "id-1", Remote: "127.0.0.1:5", Path: "/r\"oom", Query: "a=1&b=\n"}
	for _, tc := range []struct {
		line []byte
		want map[string]any
	}{
		{envelope.AppendJoin(nil, c), map[string]any{"event": "join", "client": "id-1", "remote": "127.0.0.1:5", "path": "/r\"oom", "query": "a=1&b=\n"}},
		{envelope.AppendLeave(nil, c.ID, 1001), map[string]any{"event": "leave", "client": "id-1", "code": float64(1001)}},
		{envelope.AppendMessage(nil, "id-1", []byte("say \"hi\"\t\\")), map[string]any{"client": "id-1", "data": "say \"hi\"\t\\"}},
		{envelope.AppendGap(nil, -1, "i\"1"), map[string]any{"event": "gap", "lost": float64(-1), "instance": "i\"1"}},
	} {
		if !bytes.HasSuffix(tc.line, []byte("\n")) || bytes.Count(tc.line, []byte("\n")) != 1 {
			t.Fatalf("%q is not one line", tc.line)
		}
		var got map[string]any
		if err := json.Unmarshal(tc.line, &got); err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%q decodes to %v, want %v", tc.line, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Fatalf("%q: %s=%v, want %v", tc.line, k, got[k], v)
			}
		}
	}
	c.User = "alice"
	if !bytes.Contains(envelope.AppendJoin(nil, c), []byte(`"user":"alice"`)) {
		t.Fatal("an authenticated client's join lacks its user")
	}
	// A JWT's claims are an object of the event, not a string.
	c.Claims = `{"sub":"alice","n":12345678901234567890}`
	var join struct {
		Claims map[string]any `json:"claims"`
	}
	line := envelope.AppendJoin(nil, c)
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&join); err != nil || join.Claims["n"] != json.Number("12345678901234567890") {
		t.Fatalf("join %s: claims %v, %v", line, join.Claims, err)
	}
	c.Claims = `{"broken`
	if bytes.Contains(envelope.AppendJoin(nil, c), []byte(`claims`)) {
		t.Fatal("claims that are not JSON made it into the join event")
	}
}

func TestCutForLog(t *testing.T) {
	t.Parallel()
	if got := envelope.CutForLog([]byte(strings.Repeat("x", 300))); len(got) != 200 {
		t.Fatalf("cut to %d bytes, want 200", len(got))
	}
	if got := envelope.CutForLog([]byte("a\xffb")); got != "a\uFFFDb" {
		t.Fatalf("got %q, want invalid UTF-8 replaced", got)
	}
}
