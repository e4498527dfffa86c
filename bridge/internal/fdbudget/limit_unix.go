//go:build unix

package fdbudget

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// softLimit is the soft RLIMIT_NOFILE, math.MaxInt if unlimited.
func softLimit() (int, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur >= math.MaxInt {
		return math.MaxInt, nil
	}
	return int(rl.Cur), nil
}
