//go:build (unix && !linux) || (linux && portable)

package fdbudget

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// pollBatch is how many descriptors one poll(2) call asks about.
const pollBatch = 1024

// maxScan bounds the descriptors asked about where the limit is higher
// still (or none): the estimate then misses descriptors above it.
const maxScan = 1 << 20

// Count returns the number of open file descriptors and the soft
// RLIMIT_NOFILE. Without /proc/self/fd (macOS, FreeBSD) it asks poll(2),
// without waiting, about every descriptor under the limit, a batch per
// call: one that is not open comes back POLLNVAL. buf is not needed here.
func Count(buf []byte) (open, limit int, err error) {
	limit, err = softLimit()
	if err != nil {
		return 0, 0, err
	}
	scan := min(limit, maxScan)
	fds := make([]unix.PollFd, min(scan, pollBatch))
	for base := 0; base < scan; base += len(fds) {
		batch := fds[:min(len(fds), scan-base)]
		for i := range batch {
			batch[i] = unix.PollFd{Fd: int32(base + i)}
		}
		for {
			_, err = unix.Poll(batch, 0)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil {
			return 0, limit, fmt.Errorf("count open files: poll: %w", err)
		}
		for _, p := range batch {
			if p.Revents&unix.POLLNVAL == 0 {
				open++
			}
		}
	}
	return open, limit, nil
}
