package readiness

import (
	"errors"
	"fmt"
	"os"
)

// watcher on Windows: a pipe has no readiness to wait for short of reading
// it (overlapped reads complete with data, they do not announce it), so
// there is no shared watcher, and callers wait on a goroutine of their own,
// as they do on Linux when no epoll set can be had.
var watcher windowsWatcher

type windowsWatcher struct{}

var errNoWatcher = fmt.Errorf("readiness of a pipe: %w on Windows", errors.ErrUnsupported)

func (windowsWatcher) add(f *os.File, fn func()) error { return errNoWatcher }

func (windowsWatcher) cancel(f *os.File) bool { return false }
