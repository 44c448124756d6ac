package faultfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// ErrPowerOff is returned by every operation of a PowerLoss file system
// after Crash.
var ErrPowerOff = errors.New("faultfs: power is off")

// PowerLoss wraps a file system so that a process's death models a power
// loss: data written to a file reaches the wrapped file system only when
// the file is synced (File.Sync or File.Datasync). Until then writes are
// kept in the process's memory, where the file's own reads and its Size see
// them; other processes (and other opens of the file) see only synced
// data. So when the process is killed, SIGKILL included, every write after
// the file's last sync is lost, exactly what a power loss does to data the
// disk had not been told to make durable. Crash does the same without a
// kill.
//
// What it models, for each kind of file the store keeps:
//
//   - An append-only log: a write that was not followed by a successful
//     sync is lost whole (the store's torn-tail recovery then sees a clean
//     end); a sync makes every earlier write durable, in order.
//   - A file written to a temp name, synced and renamed (the index
//     checkpoint): data not synced before the rename is lost, so a rename
//     of an unsynced file leaves an empty or short file, as on a real
//     power loss.
//   - Lock files: they hold no data; flock(2) locks are the kernel's and
//     die with the process, as they do at a power loss.
//
// What it does not model: directory operations (create, rename, remove,
// truncate) take effect at once, as if each were followed by an fsync of
// its directory; and a write is never lost in part (a real disk may tear
// a write at sector boundaries, which the store's checksums cover and
// which Faulty's short writes test). Data not synced when a file is closed
// is dropped at Close. PowerLoss is safe for concurrent use.
type PowerLoss struct {
	base FS

	mu    sync.Mutex
	off   bool
	files map[*plFile]struct{}
}

// NewPowerLoss returns a power-loss file system over base.
func NewPowerLoss(base FS) *PowerLoss {
	return &PowerLoss{base: base, files: make(map[*plFile]struct{})}
}

// Crash models the power going off now: every open file's unsynced writes
// are dropped and every later operation fails with ErrPowerOff. Open files
// must still be closed (Close does nothing else then).
func (p *PowerLoss) Crash() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = true
	for f := range p.files {
		f.mu.Lock()
		f.pending, f.size = nil, f.synced
		f.mu.Unlock()
	}
}

// checkOn returns ErrPowerOff after Crash.
func (p *PowerLoss) checkOn() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		return ErrPowerOff
	}
	return nil
}

func (p *PowerLoss) wrap(file File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	size, err := file.Size()
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	f := &plFile{base: file, fs: p, size: size, synced: size}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		_ = file.Close()
		return nil, ErrPowerOff
	}
	p.files[f] = struct{}{}
	return f, nil
}

func (p *PowerLoss) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := p.checkOn(); err != nil {
		return nil, err
	}
	if flag&os.O_APPEND != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("faultfs: O_APPEND is not supported in power-loss mode")}
	}
	return p.wrap(p.base.OpenFile(name, flag, perm))
}

func (p *PowerLoss) CreateTemp(dir, pattern string) (File, error) {
	if err := p.checkOn(); err != nil {
		return nil, err
	}
	return p.wrap(p.base.CreateTemp(dir, pattern))
}

func (p *PowerLoss) Rename(oldpath, newpath string) error {
	if err := p.checkOn(); err != nil {
		return err
	}
	return p.base.Rename(oldpath, newpath)
}

func (p *PowerLoss) Remove(name string) error {
	if err := p.checkOn(); err != nil {
		return err
	}
	return p.base.Remove(name)
}

func (p *PowerLoss) Mkdir(name string, perm fs.FileMode) error {
	if err := p.checkOn(); err != nil {
		return err
	}
	return p.base.Mkdir(name, perm)
}

func (p *PowerLoss) SyncDir(name string) error {
	if err := p.checkOn(); err != nil {
		return err
	}
	return p.base.SyncDir(name)
}

func (p *PowerLoss) Stat(name string) (fs.FileInfo, error)  { return p.base.Stat(name) }
func (p *PowerLoss) Lstat(name string) (fs.FileInfo, error) { return p.base.Lstat(name) }
func (p *PowerLoss) ReadDirNames(name string) ([]string, error) {
	return p.base.ReadDirNames(name)
}

// extent is one unsynced write.
type extent struct {
	off  int64
	data []byte
}

// plFile is a file of a PowerLoss file system.
type plFile struct {
	base File
	fs   *PowerLoss

	mu      sync.Mutex
	pending []extent // unsynced writes, in order
	size    int64    // the size this process sees
	synced  int64    // the wrapped file's size
}

func (f *plFile) Name() string                          { return f.base.Name() }
func (f *plFile) SyscallConn() (syscall.RawConn, error) { return f.base.SyscallConn() }

func (f *plFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.checkOn(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(p) == 0 {
		return 0, nil // as os.File.ReadAt, even at the end
	}
	if off >= f.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.size-off))
	buf := p[:n]
	if off < f.synced {
		m, err := f.base.ReadAt(buf[:min(int64(n), f.synced-off)], off)
		if err != nil && err != io.EOF {
			return 0, err
		}
		clear(buf[m:])
	} else {
		clear(buf)
	}
	for _, e := range f.pending {
		lo, hi := max(e.off, off), min(e.off+int64(len(e.data)), off+int64(n))
		if lo < hi {
			copy(buf[lo-off:hi-off], e.data[lo-e.off:hi-e.off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *plFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.checkOn(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.EINVAL}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, extent{off: off, data: append([]byte(nil), p...)})
	f.size = max(f.size, off+int64(len(p)))
	return len(p), nil
}

func (f *plFile) Size() (int64, error) {
	if err := f.fs.checkOn(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size, nil
}

// Truncate takes effect on the wrapped file at once (a metadata change,
// see PowerLoss) and drops the unsynced writes past size.
func (f *plFile) Truncate(size int64) error {
	if err := f.fs.checkOn(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.base.Truncate(min(size, f.synced)); err != nil {
		return err
	}
	f.synced = min(size, f.synced)
	kept := f.pending[:0]
	for _, e := range f.pending {
		if e.off < size {
			e.data = e.data[:min(int64(len(e.data)), size-e.off)]
			kept = append(kept, e)
		}
	}
	f.pending, f.size = kept, size
	return nil
}

// flush writes the unsynced writes to the wrapped file, in order.
func (f *plFile) flush(sync func() error) error {
	if err := f.fs.checkOn(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.size > f.synced && len(f.pending) == 0 {
		// Extended by a truncate: make the wrapped file as long.
		if err := f.base.Truncate(f.size); err != nil {
			return err
		}
	}
	for len(f.pending) > 0 {
		e := f.pending[0]
		if _, err := f.base.WriteAt(e.data, e.off); err != nil {
			return err
		}
		f.pending = f.pending[1:]
		f.synced = max(f.synced, e.off+int64(len(e.data)))
	}
	f.pending = nil
	if f.size > f.synced {
		if err := f.base.Truncate(f.size); err != nil {
			return err
		}
		f.synced = f.size
	}
	return sync()
}

func (f *plFile) Sync() error     { return f.flush(f.base.Sync) }
func (f *plFile) Datasync() error { return f.flush(f.base.Datasync) }

// Close drops the unsynced writes and closes the file.
func (f *plFile) Close() error {
	f.fs.mu.Lock()
	delete(f.fs.files, f)
	f.fs.mu.Unlock()
	f.mu.Lock()
	f.pending = nil
	f.mu.Unlock()
	return f.base.Close()
}
