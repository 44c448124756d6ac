package store

import (
	"fmt"
	"strconv"
)

// errorf returns an error that wraps sentinel and says what went wrong.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// notFound returns the error for run runID not found by op: the same as
// errorf(ErrNotFound, "%s %q", op, runID), built lazily, as callers (a
// scheduler looking for a run's inbox at every step) often only test it.
func notFound(op, runID string) error {
	return &runError{sentinel: ErrNotFound, op: op, runID: runID}
}

// runError is sentinel for op on run runID.
type runError struct {
	sentinel  error
	op, runID string
}

func (e *runError) Error() string {
	return e.sentinel.Error() + ": " + e.op + " " + strconv.Quote(e.runID)
}

func (e *runError) Unwrap() error { return e.sentinel }
