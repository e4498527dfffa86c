//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// conn is a WebSocket client on a bare TCP connection: it builds its own
// frames, so it can leave in every way a real client does, half a frame
// included.
type conn struct {
	tcp *net.TCPConn
	br  *bufio.Reader
}

// Opcodes.
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

// errClosed is what read returns for the server's close frame.
var errClosed = errors.New("closed by the server")

// dial opens a WebSocket to path at addr offering proto (if not empty);
// rcvbuf > 0 shrinks the receive buffer first (a client that will stop
// reading).
func dial(addr, path, proto string, rcvbuf int) (*conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			}); err != nil {
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
	tcp.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", path, addr)
	if proto != "" {
		req += "Sec-WebSocket-Protocol: " + proto + "\r\n"
	}
	br := bufio.NewReader(tcp)
	if _, err := io.WriteString(tcp, req+"\r\n"); err != nil {
		tcp.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tcp.Close()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		tcp.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	tcp.SetDeadline(time.Time{})
	return &conn{tcp: tcp, br: br}, nil
}

// frame builds a masked client frame; declared >= 0 announces that length
// whatever the payload (a frame cut short).
func frame(op byte, payload []byte, declared int) []byte {
	n := len(payload)
	if declared >= 0 {
		n = declared
	}
	b := []byte{0x80 | op}
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

func (c *conn) send(op byte, payload []byte) error {
	c.tcp.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.tcp.Write(frame(op, payload, -1))
	return err
}

// sendClose sends a close frame with code 1000.
func (c *conn) sendClose() error { return c.send(opClose, []byte{0x03, 0xe8}) }

// read returns the next data frame's opcode and payload; a ping is
// answered, a close frame is errClosed.
func (c *conn) read() (byte, []byte, error) {
	for {
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
		if n > 16<<20 {
			return 0, nil, fmt.Errorf("frame of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return 0, nil, err
		}
		switch h[0] & 0x0f {
		case opClose:
			return opClose, p, errClosed
		case opPing:
			if err := c.send(opPong, p); err != nil {
				return 0, nil, err
			}
		case opPong:
		default:
			return h[0] & 0x0f, p, nil
		}
	}
}

// reset drops the connection with a TCP reset.
func (c *conn) reset() {
	c.tcp.SetLinger(0)
	c.tcp.Close()
}
