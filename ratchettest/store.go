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
// A FaultStore is the control panel; the store to hand to the code under
// test is its Store method's. That store implements the optional
// interfaces store.Leaser and store.Deleter exactly when the inner store
// does, so that code which looks for them finds what the inner store has.
//
// Appends are counted from 1 (Create does not count); a fault set for the
// Nth append fires once. Read faults fire on every Read (and Get) until
// cleared with FailReads(nil); append faults set by FailAppends fire on
// every Append, and write faults set by FailWrites on every change (Create,
// Append, the lease methods, Delete), until cleared with nil: a full disk
// under a File store fails all of them.
type FaultStore struct {
	inner store.Store
	view  store.Store

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

// NewFaultStore returns a FaultStore over inner with no faults set.
func NewFaultStore(inner store.Store) *FaultStore {
	f := &FaultStore{inner: inner, faults: map[int]appendFault{}}
	base := faultBase{f}
	_, leases := inner.(store.Leaser)
	_, deletes := inner.(store.Deleter)
	switch {
	case leases && deletes:
		f.view = &faultFull{base, faultLeases{f}, faultDelete{f}}
	case leases:
		f.view = &faultLeaser{base, faultLeases{f}}
	case deletes:
		f.view = &faultDeleter{base, faultDelete{f}}
	default:
		f.view = &base
	}
	return f
}

// Store returns the store with the faults, to pass to the code under test
// (always the same value). It is a store.Leaser when the inner store is
// one, and a store.Deleter when the inner store is one.
func (f *FaultStore) Store() store.Store { return f.view }

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

// The store FaultStore.Store returns is one of these: faultBase for an
// inner store with no optional interface, the others for one with leases,
// deletes or both.
type (
	faultBase   struct{ f *FaultStore }
	faultLeases struct{ f *FaultStore }
	faultDelete struct{ f *FaultStore }
	faultLeaser struct {
		faultBase
		faultLeases
	}
	faultDeleter struct {
		faultBase
		faultDelete
	}
	faultFull struct {
		faultBase
		faultLeases
		faultDelete
	}
)

var (
	_ store.Store   = (*faultBase)(nil)
	_ store.Leaser  = (*faultLeaser)(nil)
	_ store.Deleter = (*faultDeleter)(nil)
	_ interface {
		store.Store
		store.Leaser
		store.Deleter
	} = (*faultFull)(nil)
)

// Create implements store.Store.
func (b faultBase) Create(ctx context.Context, info store.RunInfo, records [][]byte) error {
	f := b.f
	if err := f.writeFault("create", info.ID); err != nil {
		return err
	}
	return f.inner.Create(ctx, info, records)
}

// Append implements store.Store, injecting the fault set for this call.
func (b faultBase) Append(ctx context.Context, bt store.Batch) error {
	f := b.f
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
		return f.inner.Append(ctx, bt)
	}
	if fault.mode == FaultAfter {
		if err := f.inner.Append(ctx, bt); err != nil {
			return err
		}
	}
	return fmt.Errorf("ratchettest: append %d to run %s: %w", n, bt.RunID, fault.err)
}

// Read implements store.Store.
func (b faultBase) Read(ctx context.Context, runID string, from uint64) ([]store.Record, error) {
	if err := b.f.readFault(); err != nil {
		return nil, fmt.Errorf("ratchettest: read run %s: %w", runID, err)
	}
	return b.f.inner.Read(ctx, runID, from)
}

// Get implements store.Store.
func (b faultBase) Get(ctx context.Context, runID string) (store.RunInfo, error) {
	if err := b.f.readFault(); err != nil {
		return store.RunInfo{}, fmt.Errorf("ratchettest: get run %s: %w", runID, err)
	}
	return b.f.inner.Get(ctx, runID)
}

// List implements store.Store.
func (b faultBase) List(ctx context.Context, q store.Query) ([]store.RunInfo, error) {
	return b.f.inner.List(ctx, q)
}

// AcquireLease implements store.Leaser.
func (l faultLeases) AcquireLease(ctx context.Context, runID, owner string, now, until time.Time) (store.Lease, error) {
	if err := l.f.writeFault("acquire lease", runID); err != nil {
		return store.Lease{}, err
	}
	return l.f.inner.(store.Leaser).AcquireLease(ctx, runID, owner, now, until)
}

// RenewLease implements store.Leaser.
func (l faultLeases) RenewLease(ctx context.Context, runID string, lease store.Lease, until time.Time) (store.Lease, error) {
	if err := l.f.writeFault("renew lease", runID); err != nil {
		return store.Lease{}, err
	}
	return l.f.inner.(store.Leaser).RenewLease(ctx, runID, lease, until)
}

// ReleaseLease implements store.Leaser.
func (l faultLeases) ReleaseLease(ctx context.Context, runID string, lease store.Lease) error {
	if err := l.f.writeFault("release lease", runID); err != nil {
		return err
	}
	return l.f.inner.(store.Leaser).ReleaseLease(ctx, runID, lease)
}

// Delete implements store.Deleter.
func (d faultDelete) Delete(ctx context.Context, runID string) error {
	if err := d.f.writeFault("delete", runID); err != nil {
		return err
	}
	return d.f.inner.(store.Deleter).Delete(ctx, runID)
}

// BasicStore returns a store with only the methods of store.Store, over
// inner: none of the optional interfaces (store.Leaser, store.Deleter),
// whatever inner implements. Use it to test code against the smallest
// store the contract allows.
func BasicStore(inner store.Store) store.Store { return basicStore{inner} }

// basicStore hides every method of its store but store.Store's.
type basicStore struct{ s store.Store }

func (b basicStore) Create(ctx context.Context, info store.RunInfo, records [][]byte) error {
	return b.s.Create(ctx, info, records)
}

func (b basicStore) Append(ctx context.Context, bt store.Batch) error { return b.s.Append(ctx, bt) }

func (b basicStore) Read(ctx context.Context, runID string, from uint64) ([]store.Record, error) {
	return b.s.Read(ctx, runID, from)
}

func (b basicStore) Get(ctx context.Context, runID string) (store.RunInfo, error) {
	return b.s.Get(ctx, runID)
}

func (b basicStore) List(ctx context.Context, q store.Query) ([]store.RunInfo, error) {
	return b.s.List(ctx, q)
}
