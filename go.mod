module github.com/wsbridge/wsbridge

go 1.26.8

require (
	github.com/alecthomas/kong v1.17.0
	github.com/coder/websocket v1.8.15
	github.com/creack/pty v1.1.24
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0
)

require go.uber.org/goleak v1.3.0
