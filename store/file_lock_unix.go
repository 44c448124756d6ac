//go:build unix

package store

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on f, waiting for other holders. The
// lock belongs to f's open file description: two opens of the same file
// exclude each other even within one process, and the kernel releases it
// when the holder dies.
func lockFile(f lockable) error {
	return flock(f, syscall.LOCK_EX)
}

// lockShared takes (or turns the exclusive lock f holds into) a shared
// flock(2) on f, waiting for an exclusive holder.
func lockShared(f lockable) error {
	return flock(f, syscall.LOCK_SH)
}

// tryLockExclusive turns the shared lock f holds into an exclusive one if
// nobody else holds one, without waiting: it fails otherwise.
func tryLockExclusive(f lockable) error {
	return flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
}

// unlockFile releases the lock lockFile took.
func unlockFile(f lockable) error {
	return flock(f, syscall.LOCK_UN)
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
