//go:build !unix

package store

import "context"

// lockFile does nothing on platforms without flock(2): there, only one
// process at a time may open a File store's directory.
func lockFile(ctx context.Context, f lockable) error { return nil }

// lockShared does nothing on platforms without flock(2).
func lockShared(ctx context.Context, f lockable) error { return nil }

// tryLockExclusive does nothing on platforms without flock(2): there, only
// one process at a time may open a File store's directory.
func tryLockExclusive(f lockable) error { return nil }

// tryLockFile does nothing on platforms without flock(2).
func tryLockFile(f lockable) bool { return true }

// unlockFile does nothing on platforms without flock(2).
func unlockFile(f lockable) error { return nil }

// lockable is a file that could be locked.
type lockable interface{ Name() string }

// noFollow is 0 where the platform has no O_NOFOLLOW (the Lstat check
// before every open still refuses a symbolic link).
const noFollow = 0

// tryLockSharedNB does nothing on platforms without flock(2).
func tryLockSharedNB(f lockable) (bool, error) { return true, nil }
