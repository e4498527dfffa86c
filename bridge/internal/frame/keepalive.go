package frame

import (
	"context"
	"log/slog"
	"time"

	"github.com/coder/websocket"
)

// Keepalive pings conn every interval until ctx ends, and drops the
// connection, logging at level, when no pong comes back within two
// intervals. While held reports true (stdin blocked on a child that is not
// reading, so pongs cannot be read either) no ping is sent: that time is
// not held against the client. held may be nil.
func Keepalive(ctx context.Context, conn *websocket.Conn, interval time.Duration, held func() bool, log *slog.Logger, level slog.Level) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if held != nil && held() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*interval)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				log.Log(context.Background(), level, "ping timeout")
				conn.CloseNow()
			}
			return
		}
	}
}
