package faultfs

import (
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
)

// The errors tests inject most: a failed device and a full disk.
var (
	EIO    error = syscall.EIO
	ENOSPC error = syscall.ENOSPC
)

// OpKind names a file operation that a Faulty file system can fail.
type OpKind int

// The operations.
const (
	OpOpen     OpKind = iota + 1 // FS.OpenFile and FS.CreateTemp
	OpWrite                      // File.WriteAt
	OpSync                       // File.Sync and File.Datasync
	OpTruncate                   // File.Truncate
	OpRename                     // FS.Rename
	OpSyncDir                    // FS.SyncDir
	OpRead                       // File.ReadAt
)

// String returns the operation's name.
func (k OpKind) String() string {
	switch k {
	case OpOpen:
		return "open"
	case OpWrite:
		return "write"
	case OpSync:
		return "fdatasync"
	case OpTruncate:
		return "truncate"
	case OpRename:
		return "rename"
	case OpSyncDir:
		return "fsync dir"
	case OpRead:
		return "read"
	}
	return "op"
}

// Op describes one operation offered to an Injector.
type Op struct {
	Kind OpKind
	// Path is the file's name (the old name for a rename).
	Path string
	// Off and Len are a write's or read's offset and length; Off is the
	// new size for a truncate.
	Off int64
	Len int
	// N counts the operations of this kind since the injector was set
	// (NewFaulty or SetInjector), this one included (from 1).
	N int
}

// Fault is what an Injector makes an operation do instead of succeeding.
type Fault struct {
	// Err is the error the operation returns, wrapped in an
	// *fs.PathError. For a write with Err nil and Written short, it is
	// io.ErrShortWrite.
	Err error
	// Written is, for a write, how many of its bytes reach the file
	// before the error (a short write); 0 for the other operations.
	Written int
}

// Injector decides, for each operation, whether it fails: it returns nil
// to let it through. It is called with the Faulty file system's lock held
// and must not use the file system.
type Injector func(Op) *Fault

// Nth fails the n-th operation (from 1) of kind with fault, and lets every
// other operation through.
func Nth(kind OpKind, n int, fault Fault) Injector {
	return func(op Op) *Fault {
		if op.Kind == kind && op.N == n {
			return &fault
		}
		return nil
	}
}

// From fails every operation of kind from the n-th on with fault: a disk
// that stays broken.
func From(kind OpKind, n int, fault Fault) Injector {
	return func(op Op) *Fault {
		if op.Kind == kind && op.N >= n {
			return &fault
		}
		return nil
	}
}

// OnFile restricts inj to the files whose base name is base; other files'
// operations go through.
func OnFile(base string, inj Injector) Injector {
	return func(op Op) *Fault {
		if filepath.Base(op.Path) != base {
			return nil
		}
		return inj(op)
	}
}

// Random fails each write and each sync with probability p, choosing the
// error from errs (EIO if empty), and makes half of the failed writes short
// (a random part of the bytes reaches the file). The same seed gives the
// same faults for the same operations.
func Random(seed uint64, p float64, errs ...error) Injector {
	if len(errs) == 0 {
		errs = []error{EIO}
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(op Op) *Fault {
		if op.Kind != OpWrite && op.Kind != OpSync {
			return nil
		}
		if rng.Float64() >= p {
			return nil
		}
		f := &Fault{Err: errs[rng.IntN(len(errs))]}
		if op.Kind == OpWrite && op.Len > 0 && rng.IntN(2) == 0 {
			f.Written = rng.IntN(op.Len)
		}
		return f
	}
}

// Faulty wraps a file system and fails the operations its Injector
// chooses. A failed write may be short (Fault.Written bytes reach the
// file); a failed sync syncs nothing. Everything else is passed to the
// wrapped file system. Faulty is safe for concurrent use.
type Faulty struct {
	base FS

	mu     sync.Mutex
	inject Injector
	counts map[OpKind]int
	faults []Op
}

// NewFaulty returns a Faulty file system over base; inject may be nil (no
// faults until SetInjector).
func NewFaulty(base FS, inject Injector) *Faulty {
	return &Faulty{base: base, inject: inject, counts: make(map[OpKind]int)}
}

// SetInjector replaces the injector (nil: no more faults) and restarts the
// counts of operations (Op.N, Count) from zero.
func (f *Faulty) SetInjector(inject Injector) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = inject
	clear(f.counts)
}

// Count returns how many operations of kind were offered since the
// injector was set.
func (f *Faulty) Count(kind OpKind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[kind]
}

// Faults returns the operations that were failed so far, in order.
func (f *Faulty) Faults() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Op(nil), f.faults...)
}

// check offers an operation to the injector.
func (f *Faulty) check(kind OpKind, path string, off int64, n int) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[kind]++
	if f.inject == nil {
		return nil
	}
	op := Op{Kind: kind, Path: path, Off: off, Len: n, N: f.counts[kind]}
	fault := f.inject(op)
	if fault != nil {
		f.faults = append(f.faults, op)
	}
	return fault
}

// pathError wraps a fault's error.
func pathError(kind OpKind, path string, err error) error {
	return &fs.PathError{Op: kind.String(), Path: path, Err: err}
}

func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if ft := f.check(OpOpen, name, 0, 0); ft != nil {
		return nil, pathError(OpOpen, name, ft.Err)
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f}, nil
}

func (f *Faulty) CreateTemp(dir, pattern string) (File, error) {
	if ft := f.check(OpOpen, filepath.Join(dir, pattern), 0, 0); ft != nil {
		return nil, pathError(OpOpen, filepath.Join(dir, pattern), ft.Err)
	}
	file, err := f.base.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f}, nil
}

func (f *Faulty) Rename(oldpath, newpath string) error {
	if ft := f.check(OpRename, oldpath, 0, 0); ft != nil {
		return pathError(OpRename, oldpath, ft.Err)
	}
	return f.base.Rename(oldpath, newpath)
}

func (f *Faulty) SyncDir(name string) error {
	if ft := f.check(OpSyncDir, name, 0, 0); ft != nil {
		return pathError(OpSyncDir, name, ft.Err)
	}
	return f.base.SyncDir(name)
}

func (f *Faulty) Remove(name string) error                  { return f.base.Remove(name) }
func (f *Faulty) Stat(name string) (fs.FileInfo, error)     { return f.base.Stat(name) }
func (f *Faulty) Lstat(name string) (fs.FileInfo, error)    { return f.base.Lstat(name) }
func (f *Faulty) Mkdir(name string, perm fs.FileMode) error { return f.base.Mkdir(name, perm) }
func (f *Faulty) ReadDirNames(name string) ([]string, error) {
	return f.base.ReadDirNames(name)
}

// faultyFile is a file of a Faulty file system.
type faultyFile struct {
	File
	fs *Faulty
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	ft := f.fs.check(OpWrite, f.Name(), off, len(p))
	if ft == nil {
		return f.File.WriteAt(p, off)
	}
	n := 0
	if w := min(max(ft.Written, 0), len(p)); w > 0 {
		var err error
		if n, err = f.File.WriteAt(p[:w], off); err != nil {
			return n, err
		}
	}
	err := ft.Err
	if err == nil {
		err = io.ErrShortWrite
	}
	return n, pathError(OpWrite, f.Name(), err)
}

func (f *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if ft := f.fs.check(OpRead, f.Name(), off, len(p)); ft != nil {
		return 0, pathError(OpRead, f.Name(), ft.Err)
	}
	return f.File.ReadAt(p, off)
}

func (f *faultyFile) Sync() error {
	if ft := f.fs.check(OpSync, f.Name(), 0, 0); ft != nil {
		return pathError(OpSync, f.Name(), ft.Err)
	}
	return f.File.Sync()
}

func (f *faultyFile) Datasync() error {
	if ft := f.fs.check(OpSync, f.Name(), 0, 0); ft != nil {
		return pathError(OpSync, f.Name(), ft.Err)
	}
	return f.File.Datasync()
}

func (f *faultyFile) Truncate(size int64) error {
	if ft := f.fs.check(OpTruncate, f.Name(), size, 0); ft != nil {
		return pathError(OpTruncate, f.Name(), ft.Err)
	}
	return f.File.Truncate(size)
}
