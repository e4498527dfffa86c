//go:build linux && !portable

package redistest

import "syscall"

// serverProcAttr has the kernel kill redis-server if the test binary dies
// first (a test timeout's panic, a SIGKILL), which cleanup would not see.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
