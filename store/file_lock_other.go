//go:build !unix

package store

import "os"

// lockFile does nothing on platforms without flock(2): there, only one
// process at a time may open a File store's directory.
func lockFile(f *os.File) error { return nil }

// lockShared does nothing on platforms without flock(2).
func lockShared(f *os.File) error { return nil }

// tryLockExclusive does nothing on platforms without flock(2): there, only
// one process at a time may open a File store's directory.
func tryLockExclusive(f *os.File) error { return nil }

// unlockFile does nothing on platforms without flock(2).
func unlockFile(f *os.File) error { return nil }
