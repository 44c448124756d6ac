//go:build unix

package store

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on f, waiting for other holders
// until ctx ends. The lock belongs to f's open file description: two opens
// of the same file exclude each other even within one process, and the
// kernel releases it when the holder dies.
func lockFile(ctx context.Context, f lockable) error {
	return retryLock(ctx, f.Name(), func() (bool, error) { return tryFlock(f, syscall.LOCK_EX) })
}

// lockShared takes (or turns the exclusive lock f holds into) a shared
// flock(2) on f, waiting for an exclusive holder until ctx ends.
func lockShared(ctx context.Context, f lockable) error {
	return retryLock(ctx, f.Name(), func() (bool, error) { return tryFlock(f, syscall.LOCK_SH) })
}

// tryLockExclusive turns the shared lock f holds into an exclusive one if
// nobody else holds one, without waiting: it fails otherwise.
func tryLockExclusive(f lockable) error {
	return flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
}

// tryLockFile takes an exclusive flock(2) on f if nobody holds one, and
// reports whether it did.
func tryLockFile(f lockable) bool {
	ok, err := tryFlock(f, syscall.LOCK_EX)
	return ok && err == nil
}

// unlockFile releases the lock lockFile took.
func unlockFile(f lockable) error {
	return flock(f, syscall.LOCK_UN)
}

// tryFlock applies how without waiting: false if another holder prevents it.
func tryFlock(f lockable, how int) (bool, error) {
	err := flock(f, how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// flock applies how to f, retrying on EINTR.
func flock(f lockable, how int) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = conn.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if ferr != nil {
		return &os.PathError{Op: "flock", Path: f.Name(), Err: ferr}
	}
	return nil
}

// lockable is a file flock(2) can lock.
type lockable interface {
	Name() string
	SyscallConn() (syscall.RawConn, error)
}

// noFollow makes an open fail on a symbolic link.
const noFollow = syscall.O_NOFOLLOW

// tryLockSharedNB takes a shared flock(2) on f if no exclusive holder
// prevents it, without waiting.
func tryLockSharedNB(f lockable) (bool, error) { return tryFlock(f, syscall.LOCK_SH) }
