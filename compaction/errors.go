package compaction

import (
	"errors"
	"fmt"
)

// ErrCorrupt marks a compaction input that cannot be merged as it is: an
// unreadable footer, rows out of order, a column of the wrong type. Retrying
// cannot help, so such errors halt compaction of the window (see IsHalt).
var ErrCorrupt = errors.New("compaction input is corrupt or inconsistent")

// HaltError wraps an error after which compacting the same inputs again
// would fail the same way. The window is left as it is (queries still read
// it) and an operator must look at it.
type HaltError struct{ Err error }

func (e *HaltError) Error() string { return "halt: " + e.Err.Error() }
func (e *HaltError) Unwrap() error { return e.Err }

// Halt wraps err as a HaltError.
func Halt(err error) error { return &HaltError{Err: err} }

// Haltf is Halt of a formatted ErrCorrupt.
func Haltf(format string, args ...any) error {
	return Halt(fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...)))
}

// IsHalt reports whether err must halt compaction of its window; every
// other error is retried with backoff (I/O errors, a full disk, a crash of
// the writer).
func IsHalt(err error) bool {
	var h *HaltError
	return errors.As(err, &h) || errors.Is(err, ErrCorrupt)
}

// Class names err's class for metrics and logs: "halt" or "retry".
func Class(err error) string {
	if IsHalt(err) {
		return "halt"
	}
	return "retry"
}
