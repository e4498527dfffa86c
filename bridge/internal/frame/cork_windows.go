package frame

import "net"

// nonblockingWriter: Go's sockets on Windows are overlapped, and a send
// completes only once it is all taken, so there is no write that takes part
// and returns: TryWrite always leaves the frame to the client's writer.
func nonblockingWriter(conn net.Conn) func(p []byte) int { return nil }

// nonblockingWritev: none on Windows, as for nonblockingWriter.
func nonblockingWritev(conn net.Conn) func(bufs [][]byte) int { return nil }
