package ratchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/ratchet-run/ratchet/store"
)

// StoreErrorKind classifies a failed store operation (see
// ClassifyStoreError). A transient kind may go away by itself (space is
// freed, the device comes back, a lock is let go): the Scheduler retries it
// with backoff. A permanent kind fails the same way every time it is
// retried: the Scheduler pauses the run at once.
type StoreErrorKind string

// The kinds of store failures.
const (
	// StoreDiskFull: no space left (ENOSPC) or quota exceeded (EDQUOT).
	// Transient.
	StoreDiskFull StoreErrorKind = "disk_full"
	// StoreIO: an I/O error (EIO), or any failure not classified
	// otherwise. Transient.
	StoreIO StoreErrorKind = "io"
	// StoreTimeout: a lock or deadline timeout (context.DeadlineExceeded
	// from the store, os.ErrDeadlineExceeded, EAGAIN, ETIMEDOUT, an error
	// whose Timeout method reports true, store.ErrBusy). Transient.
	StoreTimeout StoreErrorKind = "timeout"
	// StoreClosed: the store was closed (store.ErrClosed). Transient: it
	// serves again once the application opens it again.
	StoreClosed StoreErrorKind = "closed"
	// StoreTooLarge: a record or batch over the store's size limit
	// (store.ErrTooLarge). Permanent.
	StoreTooLarge StoreErrorKind = "too_large"
	// StoreCorrupt: the store's data or the run's log is damaged
	// (store.ErrCorrupt, ErrCorruptLog). Permanent.
	StoreCorrupt StoreErrorKind = "corrupt"
	// StoreEncoding: a record that cannot be encoded or decoded (a JSON
	// error), or a run ID the store refuses (store.ErrInvalidID).
	// Permanent.
	StoreEncoding StoreErrorKind = "encoding"
	// StoreUnsupportedFormat: a record written by a newer format version
	// (ErrUnsupportedFormat). Permanent for this code, but the run is not
	// paused: newer code, in another process, continues it.
	StoreUnsupportedFormat StoreErrorKind = "unsupported_format"
)

// Transient reports whether failures of kind k may go away by themselves
// (disk_full, io, timeout, closed), as opposed to failing the same way
// every time (too_large, corrupt, encoding, unsupported_format).
func (k StoreErrorKind) Transient() bool {
	switch k {
	case StoreDiskFull, StoreIO, StoreTimeout, StoreClosed:
		return true
	}
	return false
}

// ClassifyStoreError returns the kind of a failed store operation, or ""
// when err is nil or is not a store failure: a cancelled context, a lost
// race (store.ErrConflict, store.ErrLeased), a run that is gone or exists
// (store.ErrNotFound, store.ErrExists), a run that has ended. It looks
// through wrapping (ErrRunBroken wraps the append's error). An error it
// does not recognise is StoreIO: a store failure of unknown cause is
// retried, never taken for permanent.
func ClassifyStoreError(err error) StoreErrorKind {
	var (
		unsupportedValue *json.UnsupportedValueError
		unsupportedType  *json.UnsupportedTypeError
		marshaler        *json.MarshalerError
		syntax           *json.SyntaxError
		unmarshalType    *json.UnmarshalTypeError
		timeout          interface{ Timeout() bool }
	)
	switch {
	case err == nil,
		errors.Is(err, context.Canceled),
		errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrLeased),
		errors.Is(err, store.ErrNotFound),
		errors.Is(err, store.ErrExists),
		errors.Is(err, ErrRunEnded):
		return ""
	case errors.Is(err, ErrUnsupportedFormat):
		return StoreUnsupportedFormat
	case errors.Is(err, store.ErrTooLarge):
		return StoreTooLarge
	case errors.Is(err, store.ErrCorrupt), errors.Is(err, ErrCorruptLog):
		return StoreCorrupt
	case errors.Is(err, store.ErrInvalidID),
		errors.As(err, &unsupportedValue), errors.As(err, &unsupportedType),
		errors.As(err, &marshaler), errors.As(err, &syntax), errors.As(err, &unmarshalType):
		return StoreEncoding
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return StoreDiskFull
	case errors.Is(err, store.ErrClosed):
		return StoreClosed
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, store.ErrBusy),
		errors.As(err, &timeout) && timeout.Timeout():
		return StoreTimeout
	}
	return StoreIO
}

// StoreError is a store failure met by a Scheduler while it drove a run:
// the run's pause record carries it (as ErrorInfo kind "store:" followed
// by Kind), and the Scheduler's Logger logs it. It unwraps to the store's
// error.
type StoreError struct {
	// Kind classifies Err (ClassifyStoreError).
	Kind StoreErrorKind
	// Op is what failed: "append" (a step's or a checkpoint's records),
	// "load" (reading the run), "lease", "probe" (see
	// StoreFailurePolicy) or "usage" (writing a lost spend).
	Op    string
	RunID string
	// Failures counts the run's consecutive failures of Kind so far.
	Failures int
	Err      error
}

// Error returns "ratchet: run ID: store OP failed (KIND, N in a row): ERR".
func (e *StoreError) Error() string {
	return fmt.Sprintf("ratchet: run %s: store %s failed (%s, %d in a row): %v", e.RunID, e.Op, e.Kind, e.Failures, e.Err)
}

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

// errorInfo is the persisted form of e: kind "store:KIND".
func (e *StoreError) errorInfo() *ErrorInfo {
	return &ErrorInfo{Kind: "store:" + string(e.Kind), Message: e.Error()}
}
