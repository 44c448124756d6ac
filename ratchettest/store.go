package ratchettest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// ErrInjected is the cause of faults made by ErrIO: a simulated I/O error.
var ErrInjected = errors.New("ratchettest: injected I/O error")

// ErrIO returns a simulated I/O error, shaped like the one an operating
// system gives (an *fs.PathError wrapping syscall.EIO and ErrInjected).
func ErrIO() error {
	return &fs.PathError{Op: "write", Path: "ratchettest-fault", Err: errors.Join(syscall.EIO, ErrInjected)}
}

// ErrDiskFull returns a simulated "no space left on device" error: an
// *fs.PathError wrapping syscall.ENOSPC, which errors.Is matches.
func ErrDiskFull() error {
	return &fs.PathError{Op: "write", Path: "ratchettest-fault", Err: syscall.ENOSPC}
}

// FaultMode says what an injected append fault does to the inner store.
type FaultMode int

const (
	// FaultBefore fails the append before the inner store sees it: nothing
	// is written, as with an I/O error or a full disk.
	FaultBefore FaultMode = iota
	// FaultAfter passes the batch to the inner store and then returns the
	// error anyway: the batch is durable, but the caller cannot know. This
	// is how a "partial write" looks through the Store contract, which is
	// atomic (a batch is either all written or not at all): the write
	// reached the disk but the acknowledgement was lost (an fsync error
	// after the data landed, a lost connection to a remote store).
	FaultAfter
)

// FaultStore wraps a store.Store and injects faults at chosen calls, like
// database/sql's fakedb. Calls without a fault pass through to the inner
// store. It is safe for concurrent use.
//
// Appends are counted from 1 (Create does not count); a fault set for the
// Nth append fires once. Read faults fire on every Read (and Get) until
// cleared with FailReads(nil); append faults set by FailAppends fire on
// every Append, and write faults set by FailWrites on every change (Create,
// Append, the lease methods, Delete), until cleared with nil: a full disk
// under a File store fails all of them.
type FaultStore struct {
	inner store.Store

	mu        sync.Mutex
	appends   int
	faults    map[int]appendFault
	readErr   error
	appendErr error
	writeErr  error
}

type appendFault struct {
	err  error
	mode FaultMode
}

var _ store.Store = (*FaultStore)(nil)

// NewFaultStore returns a FaultStore over inner with no faults set.
func NewFaultStore(inner store.Store) *FaultStore {
	return &FaultStore{inner: inner, faults: map[int]appendFault{}}
}

// Inner returns the wrapped store: what survives the faults.
func (f *FaultStore) Inner() store.Store { return f.inner }

// FailAppend makes the nth Append (counting from 1 over the store's
// life) return err, in the given mode, and returns f.
func (f *FaultStore) FailAppend(n int, mode FaultMode, err error) *FaultStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[n] = appendFault{err: err, mode: mode}
	return f
}

// FailReads makes every Read and Get return err until it is called with
// nil, and returns f.
func (f *FaultStore) FailReads(err error) *FaultStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readErr = err
	return f
}

// FailAppends makes every Append fail with err, before the inner store
// sees it, until it is called with nil, and returns f.
func (f *FaultStore) FailAppends(err error) *FaultStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appendErr = err
	return f
}

// FailWrites makes every change (Create, Append, AcquireLease, RenewLease,
// ReleaseLease, Delete) fail with err, before the inner store sees it,
// until it is called with nil, and returns f.
func (f *FaultStore) FailWrites(err error) *FaultStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeErr = err
	return f
}

func (f *FaultStore) writeFault(op, runID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return fmt.Errorf("ratchettest: %s run %s: %w", op, runID, f.writeErr)
	}
	return nil
}

// Appends returns the number of Append calls made so far, faulted or not.
func (f *FaultStore) Appends() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.appends
}

func (f *FaultStore) readFault() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readErr
}

// Create implements store.Store.
func (f *FaultStore) Create(ctx context.Context, info store.RunInfo, records [][]byte) error {
	if err := f.writeFault("create", info.ID); err != nil {
		return err
	}
	return f.inner.Create(ctx, info, records)
}

// Append implements store.Store, injecting the fault set for this call.
func (f *FaultStore) Append(ctx context.Context, b store.Batch) error {
	f.mu.Lock()
	f.appends++
	fault, ok := f.faults[f.appends]
	delete(f.faults, f.appends)
	n := f.appends
	if !ok && f.writeErr != nil {
		fault, ok = appendFault{err: f.writeErr}, true
	} else if !ok && f.appendErr != nil {
		fault, ok = appendFault{err: f.appendErr}, true
	}
	f.mu.Unlock()
	if !ok {
		return f.inner.Append(ctx, b)
	}
	if fault.mode == FaultAfter {
		if err := f.inner.Append(ctx, b); err != nil {
			return err
		}
	}
	return fmt.Errorf("ratchettest: append %d to run %s: %w", n, b.RunID, fault.err)
}

// Read implements store.Store.
func (f *FaultStore) Read(ctx context.Context, runID string, from uint64) ([]store.Record, error) {
	if err := f.readFault(); err != nil {
		return nil, fmt.Errorf("ratchettest: read run %s: %w", runID, err)
	}
	return f.inner.Read(ctx, runID, from)
}

// Get implements store.Store.
func (f *FaultStore) Get(ctx context.Context, runID string) (store.RunInfo, error) {
	if err := f.readFault(); err != nil {
		return store.RunInfo{}, fmt.Errorf("ratchettest: get run %s: %w", runID, err)
	}
	return f.inner.Get(ctx, runID)
}

// List implements store.Store.
func (f *FaultStore) List(ctx context.Context, q store.Query) ([]store.RunInfo, error) {
	return f.inner.List(ctx, q)
}

// AcquireLease implements store.Store.
func (f *FaultStore) AcquireLease(ctx context.Context, runID, owner string, now, until time.Time) (store.Lease, error) {
	if err := f.writeFault("acquire lease", runID); err != nil {
		return store.Lease{}, err
	}
	return f.inner.AcquireLease(ctx, runID, owner, now, until)
}

// RenewLease implements store.Store.
func (f *FaultStore) RenewLease(ctx context.Context, runID string, l store.Lease, until time.Time) (store.Lease, error) {
	if err := f.writeFault("renew lease", runID); err != nil {
		return store.Lease{}, err
	}
	return f.inner.RenewLease(ctx, runID, l, until)
}

// ReleaseLease implements store.Store.
func (f *FaultStore) ReleaseLease(ctx context.Context, runID string, l store.Lease) error {
	if err := f.writeFault("release lease", runID); err != nil {
		return err
	}
	return f.inner.ReleaseLease(ctx, runID, l)
}

// Delete implements store.Store.
func (f *FaultStore) Delete(ctx context.Context, runID string) error {
	if err := f.writeFault("delete", runID); err != nil {
		return err
	}
	return f.inner.Delete(ctx, runID)
}
