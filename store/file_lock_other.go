//go:build !unix

package store

// lockFile does nothing on platforms without flock(2): there, only one
// process at a time may open a File store's directory.
func lockFile(f lockable) error { return nil }

// lockShared does nothing on platforms without flock(2).
func lockShared(f lockable) error { return nil }

// tryLockExclusive does nothing on platforms without flock(2): there, only
// one process at a time may open a File store's directory.
func tryLockExclusive(f lockable) error { return nil }

// unlockFile does nothing on platforms without flock(2).
func unlockFile(f lockable) error { return nil }

// lockable is a file that could be locked.
type lockable interface{ Name() string }
