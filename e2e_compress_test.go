package main_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsbridge/wsbridge/bridge/gatetest/rawws"
)

const rsv1 = 0x40

// offerDeflate opens a raw WebSocket offering permessage-deflate, as a
// browser does.
func offerDeflate(t *testing.T, addr, path, proto string) *rawws.Conn {
	t.Helper()
	c, err := rawws.Dial(addr, rawws.Options{Path: path, Protocol: proto, Extensions: "permessage-deflate; client_max_window_bits", Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.TCP.Close() })
	c.TCP.SetReadDeadline(time.Now().Add(testTimeout))
	return c
}

// deflateMsg compresses one message on its own, as a client without
// context takeover sends it.
func deflateMsg(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// inflateMsg inflates one message compressed on its own.
func inflateMsg(t *testing.T, z []byte) []byte {
	t.Helper()
	b, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(z), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return b
}

// jsonFeed is a JSON message of about n bytes, as a feed sends.
func jsonFeed(n int) string {
	var b strings.Builder
	b.WriteString(`{"ticks":[`)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"symbol":"SYM%d","price":%d.%02d,"volume":%d},`, i%40, 100+i%17, i%100, 1000+i*7)
	}
	b.WriteString(`{}]}`)
	return b.String()
}

// closeCode reads frames until the close and returns its code and reason.
func closeCode(t *testing.T, c *rawws.Conn) (int, string) {
	t.Helper()
	for {
		op, p, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if op == rawws.OpClose {
			if len(p) < 2 {
				return 1005, ""
			}
			return int(binary.BigEndian.Uint16(p)), string(p[2:])
		}
	}
}

// nextData reads the next data frame, with its first byte.
func nextData(t *testing.T, c *rawws.Conn) (byte, []byte) {
	t.Helper()
	for {
		first, p, err := c.ReadFrameHeader()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		switch first & 0x0f {
		case rawws.OpText, rawws.OpBinary, rawws.OpContinuation:
			return first, p
		case rawws.OpClose:
			t.Fatalf("closed: %q", p)
		}
	}
}

// A pipe session with --compress negotiates permessage-deflate with a
// client that offers it: its output goes compressed, its input may come
// compressed, and a short message goes plain.
func TestCompressPipe(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--compress", "cat")
	c := offerDeflate(t, s.addr, "/", "")
	if ext := c.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") {
		t.Fatalf("Sec-WebSocket-Extensions: %q, want permessage-deflate without context takeover", ext)
	}
	msg := jsonFeed(4000)
	c.Send(rawws.OpText, []byte(msg)) // a client may send plain
	first, p := nextData(t, c)
	if first&rsv1 == 0 || len(p) >= len(msg)/2 {
		t.Fatalf("echo of %d bytes: RSV1 %v, %d bytes on the wire; want compressed to less than half", len(msg), first&rsv1 != 0, len(p))
	}
	if got := inflateMsg(t, p); string(got) != msg {
		t.Fatalf("inflated echo differs: %d bytes", len(got))
	}
	t.Logf("%d-byte JSON message: %d bytes on the wire", len(msg), len(p))

	c.TCP.Write(rawws.Frame(0x80|rsv1|rawws.OpText, deflateMsg([]byte(msg)), -1))
	if first, p = nextData(t, c); string(inflateMsg(t, p)) != msg || first&rsv1 == 0 {
		t.Fatal("a compressed message did not come back whole")
	}
	c.Send(rawws.OpText, []byte("short"))
	if first, p = nextData(t, c); first&rsv1 != 0 || string(p) != "short" {
		t.Fatalf("short message: first byte %#x, %q; want it plain", first, p)
	}
}

// Without --compress nothing is negotiated, output goes plain, and a
// compressed frame is a protocol error.
func TestCompressOffNegotiatesNothing(t *testing.T) {
	t.Parallel()
	s := startServer(t, "cat")
	c := offerDeflate(t, s.addr, "/", "")
	if ext := c.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("Sec-WebSocket-Extensions: %q without --compress", ext)
	}
	msg := jsonFeed(4000)
	c.Send(rawws.OpText, []byte(msg))
	if first, p := nextData(t, c); first&rsv1 != 0 || string(p) != msg {
		t.Fatalf("echo: first byte %#x, %d bytes; want plain", first, len(p))
	}
	c.TCP.Write(rawws.Frame(0x80|rsv1|rawws.OpText, deflateMsg([]byte(msg)), -1))
	if code, reason := closeCode(t, c); code != 1002 || !strings.Contains(reason, "no compression negotiated") {
		t.Fatalf("close %d %q, want 1002 for RSV1 without compression", code, reason)
	}
}

// The frame guard and the sessions keep every check with compression:
// RSV1 on a control or continuation frame (1002), invalid UTF-8 found
// after inflating (1007), corrupt deflate data (1007), and a small message
// that inflates past --maxframesize (1009).
func TestCompressGuard(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--compress", "--maxframesize=65536", "cat")
	z := deflateMsg([]byte(strings.Repeat("ok ", 300)))
	bomb := deflateMsg(make([]byte, 8<<20)) // 8 MiB of zeros in about 8 KB
	tests := []struct {
		name   string
		frames [][]byte
		code   int
		reason string
	}{
		{"rsv1 on a ping", [][]byte{rawws.Frame(0x80|rsv1|rawws.OpPing, nil, -1)}, 1002, "control frame"},
		{"rsv1 on a close", [][]byte{rawws.Frame(0x80|rsv1|rawws.OpClose, rawws.CloseBody(1000, ""), -1)}, 1002, "control frame"},
		{"rsv1 on a continuation", [][]byte{rawws.Frame(rsv1|rawws.OpText, z[:5], -1), rawws.Frame(0x80|rsv1|rawws.OpContinuation, z[5:], -1)}, 1002, "continuation"},
		{"invalid UTF-8 once inflated", [][]byte{rawws.Frame(0x80|rsv1|rawws.OpText, deflateMsg([]byte("fine, then \xff")), -1)}, 1007, "UTF-8"},
		{"corrupt deflate", [][]byte{rawws.Frame(0x80|rsv1|rawws.OpText, []byte{0xff, 0xff, 0xff, 0xff}, -1)}, 1007, "deflate"},
		{"decompression bomb", [][]byte{rawws.Frame(0x80|rsv1|rawws.OpText, bomb, -1)}, 1009, "--maxframesize=65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := offerDeflate(t, s.addr, "/", "")
			c.Send(rawws.OpText, []byte("before"))
			if _, p := nextData(t, c); string(p) != "before" {
				t.Fatalf("echo %q", p)
			}
			c.TCP.Write(bytes.Join(tt.frames, nil))
			if code, reason := closeCode(t, c); code != tt.code || !strings.Contains(reason, tt.reason) {
				t.Fatalf("close %d %q, want %d about %q", code, reason, tt.code, tt.reason)
			}
		})
	}
	t.Logf("bomb: %d compressed bytes for 8 MiB", len(bomb))
}

// Terminal output is compressed too.
func TestCompressTerminal(t *testing.T) {
	t.Parallel()
	p := script(t, "i=0; while [ $i -lt 200 ]; do echo 'the quick brown fox jumps over the lazy dog'; i=$((i+1)); done; sleep 30")
	s := startServer(t, "--terminal", "--compress", p)
	c := offerDeflate(t, s.addr, "/", ttyProto)
	if ext := c.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("Sec-WebSocket-Extensions: %q", ext)
	}
	var out []byte
	compressed := 0
	for !bytes.Contains(out, []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\r\n", 10))) {
		first, p := nextData(t, c)
		if first&rsv1 != 0 {
			compressed++
			p = inflateMsg(t, p)
		}
		out = append(out, p...)
	}
	if compressed == 0 {
		t.Fatal("no terminal output frame was compressed")
	}
}

// Broadcast output is compressed for the clients that negotiated it: once
// per message without context takeover, per client with it, and plain for
// a client that offered nothing.
func TestCompressBroadcast(t *testing.T) {
	t.Parallel()
	line := jsonFeed(2000)
	feed := script(t, fmt.Sprintf("while :; do echo '%s'; sleep 0.05; done", line))
	for _, mode := range []string{"--compress", "--compress=context-takeover"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "--broadcast", mode, feed)
			c := offerDeflate(t, s.addr, "/feed", "")
			plain, err := rawws.Dial(s.addr, rawws.Options{Path: "/feed", Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.TCP.Close()
			ext := c.Header.Get("Sec-WebSocket-Extensions")
			takeover := mode == "--compress=context-takeover"
			if !strings.Contains(ext, "permessage-deflate") || strings.Contains(ext, "server_no_context_takeover") == takeover {
				t.Fatalf("Sec-WebSocket-Extensions: %q for %s", ext, mode)
			}
			// With context takeover each message is inflated with the
			// ones before it: one stream of all of them.
			pr, pw := io.Pipe()
			stream := flate.NewReader(pr)
			go func() {
				for i := 0; i < 5; i++ {
					first, p := nextData(t, c)
					if first&rsv1 == 0 {
						pw.CloseWithError(fmt.Errorf("message %d not compressed", i))
						return
					}
					if i == 0 {
						t.Logf("%s: %d-byte line, %d bytes on the wire", mode, len(line), len(p))
					}
					pw.Write(append(p, 0, 0, 0xff, 0xff))
				}
			}()
			for i := 0; i < 5; i++ {
				got := make([]byte, len(line))
				if _, err := io.ReadFull(stream, got); err != nil || string(got) != line {
					t.Fatalf("message %d: %v, %q", i, err, got[:min(len(got), 40)])
				}
			}
			plain.TCP.SetReadDeadline(time.Now().Add(testTimeout))
			if first, p, err := plain.ReadFrameHeader(); err != nil || first&rsv1 != 0 || string(p) != line {
				t.Fatalf("client without compression: first byte %#x, %d bytes, %v; want the line plain", first, len(p), err)
			}
		})
	}
}
