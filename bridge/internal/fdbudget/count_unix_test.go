//go:build unix

package fdbudget

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCount(t *testing.T) {
	open, limit, err := Count(make([]byte, 128)) // a few entries per read
	if err != nil {
		t.Fatal(err)
	}
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	if limit != int(rl.Cur) {
		t.Errorf("limit %d, want %d", limit, rl.Cur)
	}
	var extra [20]int
	for i := range extra {
		if extra[i], err = unix.Dup(0); err != nil {
			t.Fatal(err)
		}
	}
	more, _, _ := Count(make([]byte, 4096))
	for _, fd := range extra {
		unix.Close(fd)
	}
	if more != open+len(extra) {
		t.Errorf("%d open, then %d after opening %d more", open, more, len(extra))
	}
	if errors.Is(err, unix.EMFILE) {
		t.Fatal(err)
	}
}
