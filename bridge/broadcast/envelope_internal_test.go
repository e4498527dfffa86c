package broadcast

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseEnvelope(t *testing.T) {
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
		_, err := parseEnvelope([]byte(tc.line))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.line, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: %v, want an error with %q", tc.line, err, tc.wantErr)
		}
	}
}

func TestAppendFrame(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		payload := bytes.Repeat([]byte{'x'}, n)
		f := appendFrame(nil, opText, payload)
		if f[0] != 0x81 {
			t.Fatalf("n=%d: first byte %#x, want FIN|text", n, f[0])
		}
		var length, header int
		switch f[1] {
		case 126:
			length, header = int(binary.BigEndian.Uint16(f[2:4])), 4
		case 127:
			length, header = int(binary.BigEndian.Uint64(f[2:10])), 10
		default:
			length, header = int(f[1]), 2
		}
		if f[1]&0x80 != 0 || length != n || len(f) != header+n {
			t.Fatalf("n=%d: header %x says %d bytes, frame is %d", n, f[:header], length, len(f))
		}
	}
}

func TestRingReplaysTheLastInOrder(t *testing.T) {
	t.Parallel()
	if newRing(0).replay() != nil {
		t.Fatal("no ring, yet a replay")
	}
	r := newRing(3)
	if r.replay() != nil {
		t.Fatal("an empty ring replays something")
	}
	want := func(msgs ...string) {
		t.Helper()
		var buf []byte
		for _, m := range msgs {
			buf = appendFrame(buf, opText, []byte(m))
		}
		b := r.replay()
		if b == nil || !bytes.Equal(b.buf, buf) || b.msgs != len(msgs) {
			t.Fatalf("replay %+v, want frames of %q", b, msgs)
		}
	}
	for i, m := range []string{"1", "2", "3", "4", "5"} {
		r.add(appendFrame(nil, opText, []byte(m)))
		switch i {
		case 1:
			want("1", "2")
		case 2:
			want("1", "2", "3")
		case 4:
			want("3", "4", "5")
		}
	}
}

func TestEventsAreJSONLines(t *testing.T) {
	t.Parallel()
	c := &Client{info: ClientInfo{ID: "id-1", Remote: "127.0.0.1:5", Path: "/r\"oom", Query: "a=1&b=\n"}}
	for _, tc := range []struct {
		line []byte
		want map[string]any
	}{
		{appendJoin(nil, c), map[string]any{"event": "join", "client": "id-1", "remote": "127.0.0.1:5", "path": "/r\"oom", "query": "a=1&b=\n"}},
		{appendLeave(nil, c, 1001), map[string]any{"event": "leave", "client": "id-1", "code": float64(1001)}},
		{appendClientMessage(nil, "id-1", []byte("say \"hi\"\t\\")), map[string]any{"client": "id-1", "data": "say \"hi\"\t\\"}},
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
	c.info.User = "alice"
	if !bytes.Contains(appendJoin(nil, c), []byte(`"user":"alice"`)) {
		t.Fatal("an authenticated client's join lacks its user")
	}
}
