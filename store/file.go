package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/ratchet-run/ratchet/internal/faultfs"
)

// File layout names, inside the store's directory.
const (
	// FileLogName is the name of a File store's write-ahead log.
	FileLogName = "ratchet.wal"
	// FileLockName is the name of the file a File store locks.
	FileLockName = "ratchet.lock"
)

// FileOptions configures a File store. The zero value (or a nil
// *FileOptions) gives the defaults.
type FileOptions struct {
	// MaxRecordSize is the largest record, in bytes, that Create and Append
	// accept; larger ones get ErrTooLarge. Defaults to 4 MiB
	// (MaxRecordSizeDefault) when zero. It may not exceed 512 MiB.
	MaxRecordSize int

	// OnRecover, when not nil, is called when the store cuts a torn or
	// corrupt tail off its log: while opening, or when it finds that
	// another process died in the middle of an append. It is called
	// synchronously with the store's lock held and must not call the
	// store. Defaults to nil: no callback.
	OnRecover func(Recovery)

	// Logger, when not nil, gets an error for every Recovery (a torn
	// tail cut), every damaged frame and an ignored index checkpoint, and
	// a warning for a checkpoint that cannot be written and a store
	// directory others may write. Defaults to nil: nothing is logged, but
	// damage still shows in File.Damage and in the errors of the damaged
	// runs, and missing data fails NewFile.
	Logger *slog.Logger

	// VerifyLog makes the store read and verify the whole log when it
	// opens, ignoring the index checkpoint (ratchet.idx), so that damage
	// anywhere in the log is found then rather than when Read reaches it.
	// Defaults to false: the log after the checkpoint is read.
	VerifyLog bool

	// ReadOnly opens the store for reading only: the store creates,
	// writes, truncates and removes nothing (not even a torn tail, which
	// is only logged, nor an index checkpoint) and takes no lock but a
	// shared one on ratchet.open when it can, so it works for a user who
	// may only read the directory and never changes what it inspects.
	// Every change returns ErrReadOnly. Reads see what other processes
	// append (they catch up without the lock file; a frame being written
	// meanwhile is read at the next call). Defaults to false.
	ReadOnly bool

	// FS is the file layer the store does its file operations through;
	// nil (the default) means the real file system. Its type lives in an
	// internal package, so only the packages of this module can set it:
	// tests inject I/O faults (faultfs.Faulty) and model power loss
	// (faultfs.PowerLoss) with it, in this process or in a child process
	// that internal/crashtest kills.
	FS faultfs.FS

	// noSync skips fsync; for tests only, never exported.
	noSync bool
}

// ErrReadOnly is returned by every change of a File store opened with
// FileOptions.ReadOnly.
var ErrReadOnly = errors.New("store: opened read-only")

// ErrFailed is returned by a File store's changes (Create, Append, Delete,
// the lease methods, Compact) after an fsync of its files failed, or a
// failed write could not be undone: the failed call's error wraps it with
// the cause, and every later
// change returns it without trying. Reads go on serving what was
// acknowledged. Only a new open (Close, then NewFile) reads what really is
// on disk and recovers; the failed call's batch, never acknowledged, may or
// may not be there.
var ErrFailed = errors.New("store: an earlier write or fsync failed; the store refuses changes until reopened")

// Recovery describes a torn or corrupt tail that a File store cut off its
// log. The bytes cut were never acknowledged to a writer unless the disk
// corrupted them after the fact; see File.
type Recovery struct {
	// Path is the log file's path.
	Path string
	// Offset is where the first bad frame began; the log now ends there.
	Offset int64
	// Cut is the number of bytes removed.
	Cut int64
	// Reason says what was wrong with the first bad frame.
	Reason string
}

// File is the embedded default Store: one directory holding a checksummed
// write-ahead log that all runs share, with group commit, so that many
// concurrent appends share one fsync. The package documentation describes
// the directory, the on-disk format and the recovery rules.
//
// File is safe for concurrent use, and several processes on one machine may
// open the same directory at once: every change is made under an exclusive
// flock on the directory's lock file after reading what the other processes
// wrote. File starts no goroutines: a caller that finds no commit in
// progress commits the waiting group itself (see the package doc).
type File struct {
	dir       string
	path      string // the log
	maxRecord int
	onRecover func(Recovery)
	logger    *slog.Logger
	verifyLog bool
	readOnly  bool
	noSync    bool

	fs       faultfs.FS
	wal      faultfs.File
	lock     faultfs.File
	presence faultfs.File // ratchet.open, share-locked while the store is open

	// closeMu is held for reading by every method while it runs and for
	// writing by Close.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	// The group commit queue.
	qmu     sync.Mutex
	queue   []*request // guarded by qmu
	leading bool       // guarded by qmu: a caller is leading a commit

	// ioMu serialises this process's use of the lock file and of the log's
	// end: a leader holds it for a whole group commit, a reader for
	// catching up. Fields marked "ioMu" are written only with it held.
	ioMu   ctxMutex
	failed error  // ioMu: sticky error after a failed fsync
	buf    []byte // ioMu: the group buffer, reused
	idxEnd int64  // ioMu: log offset of the last checkpoint loaded or saved

	// mu guards the index. Writers also hold ioMu.
	mu      sync.RWMutex
	runs    map[string]*fileRun
	damage  []Damage // damage found so far
	end     int64    // end of the log as indexed
	writing int64    // end of the group being written; end when idle
}

var (
	_ Store   = (*File)(nil)
	_ Leaser  = (*File)(nil)
	_ Deleter = (*File)(nil)
)

// NewFile opens the File store in dir, creating dir (mode 0700)
// and the store's files (mode 0600) if needed; nil opts means the defaults.
// It rebuilds the index from the index checkpoint and the log after it (or
// the whole log), cutting off a torn tail (see FileOptions.OnRecover) and
// marking damaged runs (see File.Damage). It returns a *MissingDataError
// when the checkpoint proves acknowledged data is missing from the log,
// ErrCorrupt when the log's header is bad, and ErrUnsafeFile for a store
// file that is a symbolic link. It waits for the store's lock while
// another process holds it. The caller must Close the store.
func NewFile(dir string, opts *FileOptions) (*File, error) {
	var o FileOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxRecordSize == 0 {
		o.MaxRecordSize = MaxRecordSizeDefault
	}
	if o.MaxRecordSize < 0 || o.MaxRecordSize > maxFrameBody/2 {
		return nil, fmt.Errorf("store: open %s: MaxRecordSize %d out of range 1..%d", dir, o.MaxRecordSize, maxFrameBody/2)
	}
	if o.FS == nil {
		o.FS = faultfs.OS()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := &File{
		fs:        o.FS,
		dir:       dir,
		path:      filepath.Join(dir, FileLogName),
		maxRecord: o.MaxRecordSize,
		onRecover: o.OnRecover,
		logger:    o.Logger,
		verifyLog: o.VerifyLog,
		readOnly:  o.ReadOnly,
		noSync:    o.noSync,
		runs:      make(map[string]*fileRun),
		ioMu:      newCtxMutex(),
	}
	if err := f.open(); err != nil {
		f.closeFiles()
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return f, nil
}

// Close waits for the calls in progress, saves an index checkpoint if the
// log grew (so that the next open need not read the log again), and closes
// the store's files. Every later call returns ErrClosed, and so does a
// second Close.
func (f *File) Close() error {
	f.closeMu.Lock()
	defer f.closeMu.Unlock()
	if f.closed {
		return ErrClosed
	}
	f.closed = true
	_ = f.ioMu.Lock(context.Background()) // no call is in flight to hold it long
	// The checkpoint is a cache: a lock holder that does not let go (a
	// stopped process) costs it, not a hung Close.
	if f.end > f.idxEnd && f.failed == nil && !f.readOnly && tryLockFile(f.lock) {
		f.saveCheckpoint(0)
		_ = unlockFile(f.lock)
	}
	f.ioMu.Unlock()
	return f.closeFiles()
}

// closeFiles closes whichever files are open.
func (f *File) closeFiles() error {
	var errs []error
	if f.wal != nil {
		errs = append(errs, f.wal.Close())
	}
	if f.lock != nil {
		errs = append(errs, f.lock.Close())
	}
	if f.presence != nil {
		errs = append(errs, f.presence.Close()) // releases its lock
	}
	return errors.Join(errs...)
}

// enter starts a method call: it returns ErrClosed after Close, and
// otherwise holds off Close until leave.
func (f *File) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.closeMu.RLock()
	if f.closed {
		f.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

// leave ends what enter started.
func (f *File) leave() { f.closeMu.RUnlock() }

// Create implements Store.Create.
func (f *File) Create(ctx context.Context, info RunInfo, records [][]byte) error {
	if err := ValidateID(info.ID); err != nil {
		return err
	}
	if err := checkRecords("create", info.ID, records, f.maxRecord); err != nil {
		return err
	}
	ri := newRunInfo(info, 0)
	state, err := json.Marshal(ri)
	if err != nil {
		return fmt.Errorf("store: create %q: %w", info.ID, err)
	}
	ri.LastSeq = uint64(len(records))
	r := &request{op: opCreate, runID: info.ID, info: ri, nrec: len(records)}
	if err := r.setBody(frame{kind: kindCreate, runID: info.ID, seq: 1, records: records, state: state}); err != nil {
		return err
	}
	return f.submit(ctx, r)
}

// Append implements Store.Append.
func (f *File) Append(ctx context.Context, b Batch) error {
	if err := ValidateID(b.RunID); err != nil {
		return err
	}
	if err := checkRecords("append to", b.RunID, b.Records, f.maxRecord); err != nil {
		return err
	}
	m := normMeta(b.Meta)
	state, err := json.Marshal(&m)
	if err != nil {
		return fmt.Errorf("store: append to %q: %w", b.RunID, err)
	}
	r := &request{op: opAppend, runID: b.RunID, meta: m, nrec: len(b.Records), expected: b.Expected, fence: b.Fence}
	if err := r.setBody(frame{kind: kindAppend, runID: b.RunID, seq: b.Expected + 1, records: b.Records, state: state}); err != nil {
		return err
	}
	return f.submit(ctx, r)
}

// MaxRecordSize returns the size in bytes of the largest record Create and
// Append accept (FileOptions.MaxRecordSize).
func (f *File) MaxRecordSize() int { return f.maxRecord }

// Read implements Store.Read. It reads only the frames that hold records
// from from on, through the in-memory index, and verifies their checksums.
func (f *File) Read(ctx context.Context, runID string, from uint64) ([]Record, error) {
	if err := ValidateID(runID); err != nil {
		return nil, err
	}
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	defer f.leave()
	if err := f.refresh(ctx); err != nil {
		return nil, err
	}
	from = max(from, 1)
	f.mu.RLock()
	run := f.runs[runID]
	var entries []walEntry
	var last uint64
	var damage *Damage
	if run != nil {
		entries, last, damage = run.entries, run.info.LastSeq, run.damage
	}
	f.mu.RUnlock()
	if run == nil {
		return nil, notFound("read", runID)
	}
	var derr error
	if damage != nil {
		derr = &DamagedError{Op: "read", Damage: *damage}
		last = min(last, damage.LastSeq)
	}
	if from > last {
		return []Record{}, derr
	}
	out := make([]Record, 0, last-from+1)
	for i := max(entryFor(entries, from), 0); i < len(entries); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := entries[i]
		fr, err := f.readFrame(e)
		if err == nil && (fr.runID != runID || fr.seq != e.seq || len(fr.records) == 0) {
			err = errorf(ErrCorrupt, "frame at %d holds run %q seq %d", e.off, fr.runID, fr.seq)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return nil, fmt.Errorf("store: read %q: %w", runID, err)
			}
			return out, f.damagedAtRead(run, i, err)
		}
		for j, data := range fr.records {
			if seq := e.seq + uint64(j); seq >= from && seq <= last {
				out = append(out, Record{Seq: seq, Data: data})
			}
		}
		if e.seq+uint64(len(fr.records)) > last {
			break
		}
	}
	return out, derr
}

// damagedAtRead marks run damaged at its i-th entry, which failed its
// checks with err when Read read it (a frame the index checkpoint covered,
// so no open had checked it), and returns the error for the Read. The
// checkpoint is removed so that the next open scans the log and finds the
// damage before anything is appended to the run.
func (f *File) damagedAtRead(run *fileRun, i int, err error) error {
	f.mu.Lock()
	if run.damage == nil {
		e := run.entries[i]
		d := Damage{RunID: run.info.ID, Offset: e.off, Size: int64(e.size), Reason: err.Error(), LastSeq: e.seq - 1}
		run.damage = &d
		f.damage = append(f.damage, d)
		f.logger.Error("store: damaged frame in log", "path", f.path, "run", run.info.ID, "offset", e.off, "reason", err)
	}
	derr := &DamagedError{Op: "read", Damage: *run.damage}
	f.mu.Unlock()
	if !f.readOnly {
		_ = f.fs.Remove(filepath.Join(f.dir, FileIndexName))
	}
	return derr
}

// readFrame reads and decodes the frame e locates.
func (f *File) readFrame(e walEntry) (frame, error) {
	buf := make([]byte, e.size)
	if _, err := f.wal.ReadAt(buf, e.off); err != nil {
		return frame{}, err
	}
	fr, n, err := decodeFrame(buf)
	if err != nil {
		return frame{}, fmt.Errorf("frame at %d: %w", e.off, err)
	}
	if n != len(buf) {
		return frame{}, errorf(ErrCorrupt, "frame at %d is %d bytes, index says %d", e.off, n, len(buf))
	}
	return fr, nil
}

// Get implements Store.Get.
func (f *File) Get(ctx context.Context, runID string) (RunInfo, error) {
	if err := ValidateID(runID); err != nil {
		return RunInfo{}, err
	}
	if err := f.enter(ctx); err != nil {
		return RunInfo{}, err
	}
	defer f.leave()
	if err := f.refresh(ctx); err != nil {
		return RunInfo{}, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	run := f.runs[runID]
	if run == nil {
		return RunInfo{}, notFound("get", runID)
	}
	if run.damage != nil {
		return cloneInfo(run.info), damagedErr("get", run)
	}
	return cloneInfo(run.info), nil
}

// List implements Store.List.
func (f *File) List(ctx context.Context, q Query) ([]RunInfo, error) {
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	defer f.leave()
	if err := f.refresh(ctx); err != nil {
		return nil, err
	}
	f.mu.RLock()
	infos := make([]RunInfo, 0, len(f.runs))
	for _, run := range f.runs {
		if run.damage == nil && q.Matches(run.info) {
			infos = append(infos, cloneInfo(run.info))
		}
	}
	f.mu.RUnlock()
	sortInfos(infos)
	return limitInfos(infos, q), nil
}

// AcquireLease implements Leaser.AcquireLease.
func (f *File) AcquireLease(ctx context.Context, runID, owner string, now, until time.Time) (Lease, error) {
	r := &request{op: opAcquire, runID: runID, owner: owner, now: now, until: until}
	return f.leaseOp(ctx, r)
}

// RenewLease implements Leaser.RenewLease.
func (f *File) RenewLease(ctx context.Context, runID string, l Lease, until time.Time) (Lease, error) {
	r := &request{op: opRenew, runID: runID, lease: l, until: until}
	return f.leaseOp(ctx, r)
}

// ReleaseLease implements Leaser.ReleaseLease.
func (f *File) ReleaseLease(ctx context.Context, runID string, l Lease) error {
	r := &request{op: opRelease, runID: runID, lease: l}
	_, err := f.leaseOp(ctx, r)
	return err
}

// Delete implements Deleter.Delete. The run leaves the index at once; the
// bytes its frames hold in the log stay there (the log is append-only), and
// a deletion frame makes every process that reads the log forget the run.
func (f *File) Delete(ctx context.Context, runID string) error {
	if err := ValidateID(runID); err != nil {
		return err
	}
	r := &request{op: opDelete, runID: runID}
	if err := r.setBody(frame{kind: kindDelete, runID: runID}); err != nil {
		return err
	}
	return f.submit(ctx, r)
}

// leaseOp submits a lease change and returns the new lease.
func (f *File) leaseOp(ctx context.Context, r *request) (Lease, error) {
	if err := ValidateID(r.runID); err != nil {
		return Lease{}, err
	}
	if err := f.submit(ctx, r); err != nil {
		return Lease{}, err
	}
	return r.lease, nil
}
