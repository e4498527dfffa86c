//go:build !linux || portable

package redistest

import "syscall"

// serverProcAttr: only Linux can tie a child's life to its parent's
// (Pdeathsig); elsewhere redis-server outlives a test binary that dies
// before its cleanup, until its port is wanted again.
func serverProcAttr() *syscall.SysProcAttr { return nil }
