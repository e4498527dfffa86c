//go:build linux && !portable

package process

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitid with WNOWAIT names an exited child without reaping it; only when
// that child is not ours does the watcher ask each of its own children in
// turn, since a zombie that is not ours can hide ours from waitid until its
// owner reaps it.

// reapLocked reaps every exited child of ours; w.mu is held, so no pid is
// reaped twice.
func (w *watcher) reapLocked() {
	for {
		pid := exitedChild()
		if pid <= 0 {
			return
		}
		p, ours := w.kids[pid]
		if !ours {
			// Someone else's zombie hides ours: ask each of ours.
			for _, p := range w.kids {
				w.tryReap(p)
			}
			return
		}
		if !w.tryReap(p) {
			return
		}
	}
}

// exitedChild names a child of the daemon that has exited, without reaping
// it; 0 if none has.
func exitedChild() int {
	// siginfo_t as the kernel fills it for SIGCHLD: si_pid follows signo,
	// errno and code, and the union it starts is pointer-aligned: 4 bytes
	// of padding on 64-bit systems, none on 32-bit ones.
	var info struct {
		signo, errno, code int32
		_                  [unsafe.Sizeof(uintptr(0)) - 4]byte
		pid                int32
		_                  [128 - 16 - (unsafe.Sizeof(uintptr(0)) - 4)]byte
	}
	for {
		_, _, errno := unix.Syscall6(unix.SYS_WAITID, unix.P_ALL, 0, uintptr(unsafe.Pointer(&info)),
			unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return int(info.pid)
		case unix.EINTR:
			continue
		default: // ECHILD: no children at all
			return 0
		}
	}
}
