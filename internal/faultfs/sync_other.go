//go:build !linux

package faultfs

import "os"

// datasync makes f's written data durable. os.File.Sync uses
// fcntl(F_FULLFSYNC) on darwin, which reaches the disk's platter rather
// than its cache.
func datasync(f *os.File) error {
	return f.Sync()
}
