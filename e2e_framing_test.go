package main_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/gatetest/rawws"
)

// sized is a message of exactly n bytes: text (valid UTF-8, with
// multi-byte characters where they fit) or binary (every byte value).
func sized(n int, text bool) []byte {
	b := make([]byte, 0, n)
	for i := 0; len(b) < n; i++ {
		switch {
		case !text:
			b = append(b, byte(i*7))
		case n-len(b) >= 2 && i%5 == 0:
			b = append(b, "é"...)
		default:
			b = append(b, byte('a'+i%26))
		}
	}
	return b
}

// With --framing=length, cat is a perfect echo: every message comes back
// whole and with its type, the empty one and a 16 MiB one too; --binary's
// reads would cut, merge and lose them.
func TestFramingLengthEchoesEveryMessageWhole(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--framing=length", "--maxframesize=0", "cat")
	c := dial(t, s.URL("/"))
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 16 << 20} {
		for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
			msg := sized(n, typ == websocket.MessageText)
			// 16 MiB through a race-instrumented daemon on a loaded
			// machine takes a while: the timer only ends a stuck test.
			timer := time.AfterFunc(8*testTimeout, func() { c.CloseNow() })
			err := c.Write(context.Background(), typ, msg)
			if err != nil {
				t.Fatalf("write %v of %d bytes: %v", typ, n, err)
			}
			gotType, got, err := c.Read(context.Background())
			timer.Stop()
			if err != nil {
				t.Fatalf("read the echo of %v of %d bytes: %v", typ, n, err)
			}
			if gotType != typ || !bytes.Equal(got, msg) {
				t.Fatalf("sent %v of %d bytes, got %v of %d bytes (equal: %v)", typ, n, gotType, len(got), bytes.Equal(got, msg))
			}
		}
	}
}

// Fragmented messages, control frames between their fragments, come back
// as the whole message they make, with their type.
func TestFramingLengthFragmentedMessages(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--framing=length", "cat")
	c, err := rawws.Dial(s.addr, rawws.Options{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.TCP.Close()
	frames := [][]byte{
		rawws.Frame(rawws.OpText, []byte("caf\xc3"), -1),
		rawws.Frame(0x80|rawws.OpPing, []byte("p"), -1),
		rawws.Frame(rawws.OpContinuation, nil, -1),
		rawws.Frame(0x80|rawws.OpContinuation, []byte("\xa9!"), -1),
		rawws.Frame(rawws.OpBinary, []byte{0, 1}, -1),
		rawws.Frame(0x80|rawws.OpContinuation, bytes.Repeat([]byte{2}, 70000), -1),
		rawws.Frame(rawws.OpText, nil, -1),
		rawws.Frame(0x80|rawws.OpContinuation, nil, -1),
	}
	if _, err := c.TCP.Write(bytes.Join(frames, nil)); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		op      byte
		payload []byte
	}{
		{rawws.OpText, []byte("café!")},
		{rawws.OpBinary, append([]byte{0, 1}, bytes.Repeat([]byte{2}, 70000)...)},
		{rawws.OpText, nil},
	}
	c.TCP.SetReadDeadline(time.Now().Add(testTimeout))
	for _, w := range want {
		op, p, err := readDataMessage(c)
		if err != nil {
			t.Fatal(err)
		}
		if op != w.op || !bytes.Equal(p, w.payload) {
			t.Fatalf("got op %d with %d bytes, want op %d with %d bytes", op, len(p), w.op, len(w.payload))
		}
	}
}

// readDataMessage reads the next data message, whole, skipping pongs.
func readDataMessage(c *rawws.Conn) (byte, []byte, error) {
	var op byte
	var msg []byte
	for {
		first, p, err := c.ReadFrameHeader()
		if err != nil {
			return 0, nil, err
		}
		switch first & 0x0f {
		case rawws.OpPong, rawws.OpPing:
			continue
		case rawws.OpClose:
			return 0, nil, fmt.Errorf("closed: %q", p)
		case rawws.OpText, rawws.OpBinary:
			op = first & 0x0f
		}
		msg = append(msg, p...)
		if first&0x80 != 0 {
			return op, msg, nil
		}
	}
}

// pyRecords is a program that writes raw bytes to stdout and then waits,
// so that what ends the session is what it wrote, not its exit.
func pyRecords(t *testing.T, out string, exit bool) string {
	t.Helper()
	tail := "time.sleep(60)"
	if exit {
		tail = "pass"
	}
	return writeFile(t, filepath.Join(t.TempDir(), "records.py"), fmt.Sprintf(
		"#!/usr/bin/python3\nimport sys, time\nsys.stdout.buffer.write(%s)\nsys.stdout.flush()\n%s\n", out, tail), 0o755)
}

// A malformed record from the program ends the session with 1011 after
// the messages before it, and the log says what was wrong and where.
func TestFramingLengthMalformedRecords(t *testing.T) {
	t.Parallel()
	need(t, "/usr/bin/python3", "the test programs are Python")
	good := `b"\x01\x00\x00\x00\x02ok" + b"\x02\x00\x00\x00\x00"` // "ok", then an empty binary message
	tests := []struct {
		name string
		bad  string
		exit bool
		what string
	}{
		{"unknown type", `b"\x07\x00\x00\x00\x01x"`, false, "unknown record type 7"},
		{"length over the limit", `b"\x02\x00\x00\x04\x01" + b"x" * 1025`, false, "over --maxframesize=1024"},
		{"invalid UTF-8", `b"\x01\x00\x00\x00\x03a\xffb"`, false, "not valid UTF-8"},
		{"stdout ends inside a record", `b"\x01\x00\x00\x00\x09abc"`, true, "payload bytes missing"},
		{"stdout ends inside a header", `b"\x01\x00"`, true, "inside a record header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "--framing=length", "--maxframesize=1024", pyRecords(t, good+" + "+tt.bad, tt.exit))
			c := dial(t, s.URL("/"))
			typ, b := readMsg(t, c)
			if typ != websocket.MessageText || string(b) != "ok" {
				t.Fatalf("first message: %v %q, want text \"ok\"", typ, b)
			}
			typ, b = readMsg(t, c)
			if typ != websocket.MessageBinary || len(b) != 0 {
				t.Fatalf("second message: %v of %d bytes, want an empty binary one", typ, len(b))
			}
			_, code, reason := readUntilClose(t, c)
			if code != websocket.StatusInternalError || !strings.Contains(reason, tt.what) || !strings.Contains(reason, "offset 12") {
				t.Fatalf("close %d %q, want 1011 saying %q at offset 12", code, reason, tt.what)
			}
			s.waitLog(t, 5*time.Second, "malformed record from the program", tt.what, "offset=12")
		})
	}
}

// --framing=nul ends messages with NUL both ways: newlines stay inside a
// message, an empty message is one, and a client message holding a NUL
// closes with 1007 without reaching the program.
func TestFramingNUL(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--framing=nul", "cat")
	c := dial(t, s.URL("/"))
	for _, m := range []string{"line one\nline two\r\n", "", `{"a": [1,
2]}`} {
		if got := echo(t, c, m); got != m {
			t.Fatalf("echo of %q: %q", m, got)
		}
	}
	writeText(t, c, "bad\x00message")
	_, code, reason := readUntilClose(t, c)
	if code != websocket.StatusInvalidFramePayloadData || !strings.Contains(reason, "NUL") {
		t.Fatalf("close %d %q, want 1007 naming NUL", code, reason)
	}

	// Output: each NUL-terminated piece is a message; the last one needs
	// no NUL.
	p := script(t, `printf 'a\nb\000\000c'`)
	s2 := startServer(t, "--framing=nul", p)
	msgs, code, _ := readUntilClose(t, dial(t, s2.URL("/")))
	if strings.Join(msgs, "|") != "a\nb||c" || code != websocket.StatusNormalClosure {
		t.Fatalf("got %q and close %d, want [a\\nb, \"\", c] and 1000", msgs, code)
	}
}

// Framing frames a pipe session's streams: combinations where it has no
// meaning are refused at startup, naming the flag.
func TestFramingRefusedCombinations(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--framing=length", "--broadcast", "cat"},
		{"--framing=nul", "--pty", "cat"},
		{"--framing=length", "--passstderr", "cat"},
		{"--framing=lines", "cat"},
	} {
		code, out := runWsbridge(t, nil, append([]string{"--port=1"}, args...)...)
		if code != 2 || !strings.Contains(out, "--framing") {
			t.Errorf("%q: exit %d, output %q; want exit 2 naming --framing", args, code, out)
		}
	}
}

// examples/framing/reverse.py answers every message with its type, its
// length and its payload reversed, as its README says.
func TestExampleFraming(t *testing.T) {
	t.Parallel()
	need(t, "/usr/bin/python3", "the example is Python")
	s := startServer(t, "--framing=length", "./examples/framing/reverse.py")
	c := dial(t, s.URL("/"))
	ctx := context.Background()
	tests := []struct {
		typ  websocket.MessageType
		in   string
		want string
	}{
		{websocket.MessageText, "héllo", "text, 6 bytes: olléh"},
		{websocket.MessageBinary, "\x01\x02\x0a", "binary, 3 bytes: \x0a\x02\x01"},
		{websocket.MessageText, "", "text, 0 bytes: "},
		{websocket.MessageText, "two\nlines", "text, 9 bytes: senil\nowt"},
		{websocket.MessageBinary, string(sized(100000, false)), ""},
	}
	for _, tt := range tests {
		if err := c.Write(ctx, tt.typ, []byte(tt.in)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		typ, got := readMsg(t, c)
		want := tt.want
		if want == "" {
			rev := []byte(tt.in)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			want = fmt.Sprintf("binary, %d bytes: %s", len(tt.in), rev)
		}
		if typ != tt.typ || string(got) != want {
			t.Errorf("sent %v %.20q: got %v %.40q, want %.40q", tt.typ, tt.in, typ, got, want)
		}
	}
}
