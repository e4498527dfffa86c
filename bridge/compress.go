package bridge

import (
	"strings"

	"github.com/coder/websocket"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// compressionMode is coder/websocket's mode for --compress. The library
// negotiates permessage-deflate only with a client that offers it, and
// settles for no context takeover when the client asks for that.
func compressionMode(c session.Compression) websocket.CompressionMode {
	switch c {
	case session.CompressionNoContextTakeover:
		return websocket.CompressionNoContextTakeover
	case session.CompressionContextTakeover:
		return websocket.CompressionContextTakeover
	}
	return websocket.CompressionDisabled
}

// negotiated reads the compression agreed on from the handshake's
// Sec-WebSocket-Extensions response header: with server_no_context_takeover
// each message the server sends is compressed on its own.
func negotiated(ext string) session.Compression {
	if !strings.Contains(ext, "permessage-deflate") {
		return session.CompressionOff
	}
	if strings.Contains(ext, "server_no_context_takeover") {
		return session.CompressionNoContextTakeover
	}
	return session.CompressionContextTakeover
}
