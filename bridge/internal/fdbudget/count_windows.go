package fdbudget

import (
	"errors"
	"fmt"
)

// Count on Windows: handles have no per-process limit short of millions, so
// there is nothing to keep a reserve under, and the budget never refuses.
func Count(buf []byte) (open, limit int, err error) {
	return 0, 0, fmt.Errorf("count open handles: %w on Windows, which has no descriptor limit", errors.ErrUnsupported)
}
