//go:build !linux

package store

import "os"

// syncData makes f's written data durable. os.File.Sync uses
// fcntl(F_FULLFSYNC) on darwin, which reaches the disk's platter rather
// than its cache.
func syncData(f *os.File) error {
	return f.Sync()
}
