package frame

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// TryWrite writes what the socket takes without waiting; the rest of a cut
// frame goes out first at the next write, so nothing lands inside it.
func TestTryWriteKeepsTheRestOfACutFrame(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	c := NewCorkWriter(server)
	var sent bytes.Buffer
	// A frame larger than the socket's buffers is cut.
	frame := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	n := c.TryWrite(frame)
	if n == 0 || n == len(frame) {
		t.Fatalf("TryWrite of 8 MiB to an idle socket wrote %d bytes, want a part", n)
	}
	sent.Write(frame) // the rest is pending, sent by the next write
	if n := c.TryWrite([]byte("x")); n != 0 {
		t.Fatalf("TryWrite wrote %d bytes before the rest of a cut frame", n)
	}
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		done <- b
	}()
	if _, err := c.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	sent.WriteString("after")
	server.Close()
	if got := <-done; !bytes.Equal(got, sent.Bytes()) {
		t.Fatalf("received %d bytes, want the %d sent in order", len(got), sent.Len())
	}

	// Without a descriptor of its own (TLS, a pipe) nothing is written.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if n := NewCorkWriter(p1).TryWrite([]byte("x")); n != 0 {
		t.Fatalf("TryWrite on a pipe wrote %d bytes", n)
	}
}

// TryWritev sends several buffers in one call as far as the socket takes
// them; a buffer it cut is finished before anything else, and the caller
// learns where it stopped, so it can queue the buffers after the cut.
func TestTryWritevKeepsOrderAcrossBuffers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	c := NewCorkWriter(server)
	small := [][]byte{[]byte("one "), []byte("two "), []byte("three ")}
	if n := c.TryWritev(small); n != 14 {
		t.Fatalf("TryWritev of three small buffers to an idle socket wrote %d bytes, want 14", n)
	}
	var sent bytes.Buffer
	for _, b := range small {
		sent.Write(b)
	}
	// Buffers larger than the socket's: the socket takes a part.
	big := [][]byte{bytes.Repeat([]byte("a"), 4<<20), bytes.Repeat([]byte("b"), 4<<20), bytes.Repeat([]byte("c"), 4<<20)}
	n := c.TryWritev(big)
	if n == 0 || n >= 8<<20 {
		t.Fatalf("TryWritev of 12 MiB wrote %d bytes, want a part of the first two buffers", n)
	}
	// What was cut is finished first; whole buffers after it are the
	// caller's, who writes them next.
	cut := 0
	for rest := n; rest >= len(big[cut]); cut++ {
		rest -= len(big[cut])
		sent.Write(big[cut])
	}
	if n := c.TryWritev(small); n != 0 {
		t.Fatalf("TryWritev wrote %d bytes before the rest of a cut buffer", n)
	}
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		done <- b
	}()
	sent.Write(big[cut]) // its rest is pending
	for _, b := range big[cut+1:] {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		sent.Write(b)
	}
	server.Close()
	if got := <-done; !bytes.Equal(got, sent.Bytes()) {
		t.Fatalf("received %d bytes, want the %d sent in order", len(got), sent.Len())
	}
}
