// Package rawws is a raw-socket WebSocket client that can misbehave —
// reset, half frames, stalled reads — for tests and the soak benchmark.
// It builds its own frames on a bare TCP connection, so it can leave in
// every way a real client does. It does not import testing: the soak
// benchmark (examples/soak) is a program.
package rawws

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Options say what Dial asks for.
type Options struct {
	Path     string // request path; "/" if empty
	Protocol string // Sec-WebSocket-Protocol offered, if not empty
	// Extensions is Sec-WebSocket-Extensions offered, if not empty
	// ("permessage-deflate").
	Extensions string
	// RcvBuf > 0 shrinks the socket's receive buffer before the connection
	// is made (the window is agreed on then): a client that will stop
	// reading fills up after that many bytes, not megabytes.
	RcvBuf int
	// Timeout bounds the dial, the handshake and each Send; 10 s if zero.
	Timeout time.Duration
}

// maxFrame bounds what ReadFrame allocates for one frame, so a garbled
// length fails the read instead of exhausting memory.
const maxFrame = 64 << 20

// Conn is a WebSocket on a bare TCP connection.
type Conn struct {
	// TCP is the connection itself, for deadlines, half-closing and bytes
	// no frame builder makes. Reads go through ReadFrame only: it buffers.
	TCP     *net.TCPConn
	br      *bufio.Reader
	timeout time.Duration
	// Header is the handshake response's.
	Header http.Header
}

// Dial opens a WebSocket at addr as o says.
func Dial(addr string, o Options) (*Conn, error) {
	if o.Path == "" {
		o.Path = "/"
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: o.Timeout}
	if o.RcvBuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setRcvBuf(fd, o.RcvBuf) }); err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	tcp := nc.(*net.TCPConn)
	tcp.SetDeadline(time.Now().Add(o.Timeout))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", o.Path, addr)
	if o.Protocol != "" {
		req += "Sec-WebSocket-Protocol: " + o.Protocol + "\r\n"
	}
	if o.Extensions != "" {
		req += "Sec-WebSocket-Extensions: " + o.Extensions + "\r\n"
	}
	if _, err := io.WriteString(tcp, req+"\r\n"); err != nil {
		tcp.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	br := bufio.NewReader(tcp)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		tcp.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	tcp.SetDeadline(time.Time{})
	return &Conn{TCP: tcp, br: br, timeout: o.Timeout, Header: resp.Header}, nil
}

// Send writes one whole masked frame.
func (c *Conn) Send(op byte, payload []byte) error {
	return c.write(Frame(0x80|op, payload, -1))
}

// SendHalf writes a frame whose header announces declared bytes but which
// carries only part: the rest never comes.
func (c *Conn) SendHalf(op byte, part []byte, declared int) error {
	return c.write(Frame(0x80|op, part, declared))
}

// SendClose sends a close frame with code and reason.
func (c *Conn) SendClose(code uint16, reason string) error {
	return c.Send(OpClose, CloseBody(code, reason))
}

func (c *Conn) write(b []byte) error {
	c.TCP.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.TCP.Write(b)
	return err
}

// ReadFrame reads one server frame (unmasked) and returns its opcode and
// payload; a ping is answered before it is returned.
func (c *Conn) ReadFrame() (byte, []byte, error) {
	first, p, err := c.ReadFrameHeader()
	return first & 0x0f, p, err
}

// ReadFrameHeader is ReadFrame returning the frame's whole first byte
// (FIN, RSV bits and opcode).
func (c *Conn) ReadFrameHeader() (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return 0, nil, err
	}
	if h[0]&0x0f == OpPing {
		return h[0], p, c.Send(OpPong, p)
	}
	return h[0], p, nil
}

// Reset drops the connection with a TCP reset (SO_LINGER 0), as a client
// that crashes or loses its network does.
func (c *Conn) Reset() {
	c.TCP.SetLinger(0)
	c.TCP.Close()
}
