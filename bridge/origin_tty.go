package bridge

// TerminalOriginPolicy is the default for terminal endpoints (--terminal
// without --origin or --sameorigin): a page may connect only from this
// server's own origin, so another site's JavaScript can never drive a shell
// in a visitor's browser. A request without an Origin header passes: browsers
// always send one on a WebSocket upgrade, so it comes from a program (a CLI
// client, a test), which no page can make. A "null" Origin (sandboxed
// frames, file: pages) is refused.
func TerminalOriginPolicy() *OriginPolicy {
	return &OriginPolicy{sameOrigin: true, allowMissing: true}
}
