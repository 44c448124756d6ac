// Package faultfs is the file layer of the File store (package store): the
// few file operations the store uses, behind two interfaces (FS and File),
// with three implementations:
//
//   - OS: the real file system, what the store uses by default.
//   - Faulty: a wrapper that injects faults (EIO, ENOSPC, short writes) at
//     chosen or random operations, so that tests can check what the store
//     does when a write or an fdatasync fails.
//   - PowerLoss: a wrapper that models a machine losing power: whatever was
//     written to a file after its last Sync or Datasync is lost when the
//     process dies (SIGKILL included) or when Crash is called.
//
// The package is internal to the ratchet module: the store takes an FS
// through store.FileOptions.FS, a field that only this module's packages
// (tests, internal/crashtest) can set to anything but nil, because only
// they can name this package's types.
//
// # Power-loss mode in a child process
//
// A test program that runs as a child process and is killed with SIGKILL
// enables power-loss mode by opening its store with
//
//	store.NewFile(dir, &store.FileOptions{FS: faultfs.NewPowerLoss(faultfs.OS())})
//
// The library never reads the environment: a test program that wants a
// switch reads its own variable (for example RATCHET_POWERLOSS=1) and
// builds the options accordingly. See PowerLoss for what is modelled.
package faultfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// FS is the file system a File store uses.
type FS interface {
	// OpenFile opens name like os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// CreateTemp creates a new file in dir like os.CreateTemp (mode 0600).
	CreateTemp(dir, pattern string) (File, error)
	// Rename renames oldpath to newpath like os.Rename.
	Rename(oldpath, newpath string) error
	// Remove removes name like os.Remove.
	Remove(name string) error
	// Stat returns name's FileInfo, following symbolic links.
	Stat(name string) (fs.FileInfo, error)
	// Lstat returns name's FileInfo without following a symbolic link.
	Lstat(name string) (fs.FileInfo, error)
	// Mkdir creates directory name like os.Mkdir.
	Mkdir(name string, perm fs.FileMode) error
	// ReadDirNames returns the names of the entries of directory name.
	ReadDirNames(name string) ([]string, error)
	// SyncDir makes the entries of directory name durable (fsync of the
	// directory).
	SyncDir(name string) error
}

// File is an open file. The store reads and writes only at explicit
// offsets.
type File interface {
	// Name returns the name the file was opened with.
	Name() string
	// ReadAt reads like io.ReaderAt.
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes like io.WriterAt.
	WriteAt(p []byte, off int64) (int, error)
	// Size returns the file's current size.
	Size() (int64, error)
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// Datasync makes the file's data and size durable (fdatasync on
	// Linux, fsync elsewhere).
	Datasync() error
	// Close closes the file.
	Close() error
	// SyscallConn gives access to the file descriptor (for flock).
	SyscallConn() (syscall.RawConn, error)
}

// OS returns the real file system.
func OS() FS { return osFS{} }

// osFS is the real file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) CreateTemp(dir, pattern string) (File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldpath, newpath string) error      { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)     { return os.Stat(name) }
func (osFS) Lstat(name string) (fs.FileInfo, error)    { return os.Lstat(name) }
func (osFS) Mkdir(name string, perm fs.FileMode) error { return os.Mkdir(name, perm) }

func (osFS) ReadDirNames(name string) ([]string, error) {
	entries, err := os.ReadDir(name)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, err
}

func (osFS) SyncDir(name string) error {
	d, err := os.Open(filepath.Clean(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// osFile is a real open file.
type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	// The store reads and writes at explicit offsets only, so the file
	// offset is free to move: lseek to the end reports the size without
	// the allocation of Stat.
	return f.Seek(0, 2)
}

func (f osFile) Datasync() error { return datasync(f.File) }
