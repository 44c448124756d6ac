package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/ratchet-run/ratchet/internal/faultfs"
)

// Opening, catching up and recovery: reading the log into the index.

// scanBufferSize is the read buffer of a scan.
const scanBufferSize = 1 << 20

// open creates or opens the store's files and reads the log into the index.
func (f *File) open() error {
	if f.readOnly {
		return f.openReadOnly()
	}
	created, err := mkdirPrivate(f.fs, f.dir)
	if err != nil {
		return err
	}
	for _, dir := range created {
		if err := f.syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	f.checkDirMode()
	if f.presence, err = f.openFile(FileOpenName, os.O_RDWR|os.O_CREATE); err != nil {
		return err
	}
	// Held until Close; waits for a compaction in progress (see Compact).
	if err := lockShared(context.Background(), f.presence); err != nil {
		return err
	}
	if f.lock, err = f.openFile(FileLockName, os.O_RDWR|os.O_CREATE); err != nil {
		return err
	}
	if f.wal, err = f.openFile(FileLogName, os.O_RDWR|os.O_CREATE); err != nil {
		return err
	}
	if err := f.ioMu.Lock(context.Background()); err != nil {
		return err
	}
	defer f.ioMu.Unlock()
	if err := lockFile(context.Background(), f.lock); err != nil {
		return err
	}
	defer unlockFile(f.lock)
	if err := f.checkRegular(filepath.Join(f.dir, FileIndexName)); err != nil {
		return err
	}
	if err := f.checkMissing(); err != nil {
		return err
	}
	if err := f.openHeader(); err != nil {
		return err
	}
	f.removeTempCheckpoints()
	f.removeTempLogs()
	return f.readIndex()
}

// openReadOnly opens the store's files for reading only: it creates,
// writes, cuts and locks nothing but a shared lock of ratchet.open (when
// the file is there and readable), so that a compaction cannot replace the
// log meanwhile.
func (f *File) openReadOnly() error {
	fi, err := f.fs.Stat(f.dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", f.dir)
	}
	if p, err := f.openFile(FileOpenName, os.O_RDONLY); err == nil {
		f.presence = p
		if ok, _ := tryLockSharedNB(p); !ok {
			return fmt.Errorf("%w: a compaction is in progress", ErrBusy)
		}
	} else if errors.Is(err, ErrUnsafeFile) {
		return err
	}
	if f.wal, err = f.openFile(FileLogName, os.O_RDONLY); err != nil {
		return err
	}
	if err := f.ioMu.Lock(context.Background()); err != nil {
		return err
	}
	defer f.ioMu.Unlock()
	if err := f.checkRegular(filepath.Join(f.dir, FileIndexName)); err != nil {
		return err
	}
	if err := f.checkMissing(); err != nil {
		return err
	}
	size, err := f.wal.Size()
	if err != nil {
		return err
	}
	if size < walHeaderSize {
		// A log being created, or torn before its header was whole: empty.
		want := walHeader()
		got := make([]byte, size)
		if _, err := f.wal.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if !bytes.Equal(got, want[:size]) {
			return errorf(ErrCorrupt, "%s is not a ratchet log", f.path)
		}
		f.resetIndex()
		f.end, f.writing = size, size
		return nil
	}
	if err := f.openHeader(); err != nil {
		return err
	}
	return f.readIndex()
}

// readIndex builds the index from the checkpoint and the log after it, or
// from the whole log. f.ioMu and (unless read-only) the lock file must be
// held.
func (f *File) readIndex() error {
	f.resetIndex()
	if !f.verifyLog && f.loadCheckpoint() {
		err := f.catchUp()
		if err == nil {
			f.saveCheckpoint(idxRewriteBytes)
			return nil
		}
		// Whatever is wrong, the log itself is the truth.
		f.logger.Error("store: ignoring index checkpoint", "dir", f.dir, "err", err)
		f.resetIndex()
	}
	if err := f.catchUp(); err != nil {
		return err
	}
	f.saveCheckpoint(idxRewriteBytes)
	return nil
}

// openFile opens the store's file name, refusing a symbolic link or
// anything but a regular file.
func (f *File) openFile(name string, flag int) (faultfs.File, error) {
	path := filepath.Join(f.dir, name)
	if err := f.checkRegular(path); err != nil {
		return nil, err
	}
	return f.fs.OpenFile(path, flag|noFollow, 0o600)
}

// checkRegular returns ErrUnsafeFile if path exists and is not a regular
// file (a symbolic link, a directory, a device).
func (f *File) checkRegular(path string) error {
	fi, err := f.fs.Lstat(path)
	if err != nil {
		return nil // missing: the open says so, or creates it
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return errorf(ErrUnsafeFile, "%s is a symbolic link", path)
	}
	if !fi.Mode().IsRegular() {
		return errorf(ErrUnsafeFile, "%s is not a regular file", path)
	}
	return nil
}

// checkDirMode warns when the store's directory is writable by its group
// or by everyone: whoever can write it can replace the store's files.
func (f *File) checkDirMode() {
	fi, err := f.fs.Stat(f.dir)
	if err == nil && fi.Mode().Perm()&0o022 != 0 {
		f.logger.Warn("store: the store directory is writable by others than its owner; make it 0700", "dir", f.dir, "mode", fi.Mode().Perm().String())
	}
}

// checkMissing returns a *MissingDataError if the index checkpoint, when
// it is sound, covers more log than there is: then acknowledged frames
// were lost (a truncated or replaced log). f.ioMu must be held.
func (f *File) checkMissing() error {
	data, err := f.readFile(filepath.Join(f.dir, FileIndexName))
	if err != nil {
		return nil
	}
	size, err := f.wal.Size()
	if err != nil {
		return err
	}
	covered, ok := checkpointCovered(data)
	if !ok || covered <= size || len(data) < idxHeaderSize+4 {
		return nil
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc(body) != sum {
		return nil // not a checkpoint this store wrote whole: no evidence
	}
	e := &MissingDataError{Path: f.path, Size: size, Want: covered, Evidence: "its index checkpoint " + FileIndexName}
	if runs, _, err := decodeCheckpoint(data, covered, nil); err == nil {
		var ids []string
		for id, run := range runs {
			if n := len(run.entries); n > 0 && run.entries[n-1].off+int64(run.entries[n-1].size) > size {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		e.Lost = len(ids)
		e.Runs = ids[:min(len(ids), 10)]
	}
	return e
}

// mkdirPrivate creates dir and its missing parents with mode 0700 and
// returns the directories it created, deepest first, so that their
// parents can be synced.
func mkdirPrivate(fsys faultfs.FS, dir string) ([]string, error) {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := fsys.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s is not a directory", d)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) || d == filepath.Dir(d) {
			return nil, err
		}
		created = append(created, d)
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := fsys.Mkdir(created[i], 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return created, nil
}

// walHeader returns the header a log starts with.
func walHeader() [walHeaderSize]byte {
	var h [walHeaderSize]byte
	copy(h[:], walMagic)
	binary.LittleEndian.PutUint32(h[len(walMagic):], walVersion)
	return h
}

// openHeader checks the log's header, writing it first if the log is new
// (or holds a torn header that a crash left behind).
func (f *File) openHeader() error {
	size, err := f.wal.Size()
	if err != nil {
		return err
	}
	want := walHeader()
	got := make([]byte, min(size, walHeaderSize))
	if _, err := f.wal.ReadAt(got, 0); err != nil {
		return err
	}
	if len(got) == walHeaderSize {
		switch {
		case !bytes.Equal(got[:len(walMagic)], []byte(walMagic)):
			return errorf(ErrCorrupt, "%s is not a ratchet log", f.path)
		case !bytes.Equal(got, want[:]):
			return errorf(ErrCorrupt, "%s: unsupported log version %d", f.path, binary.LittleEndian.Uint32(got[len(walMagic):]))
		}
		return nil
	}
	if !bytes.Equal(got, want[:len(got)]) {
		return errorf(ErrCorrupt, "%s is not a ratchet log", f.path)
	}
	if len(got) > 0 {
		f.report(Recovery{Path: f.path, Cut: int64(len(got)), Reason: "torn log header"})
	}
	if err := f.wal.Truncate(0); err != nil {
		return err
	}
	if _, err := f.wal.WriteAt(want[:], 0); err != nil {
		return err
	}
	if err := f.syncLog(); err != nil {
		return err
	}
	return f.syncDir(f.dir)
}

// syncDir makes dir's entries durable.
func (f *File) syncDir(dir string) error {
	if f.noSync {
		return nil
	}
	return f.fs.SyncDir(dir)
}

// refresh brings the index up to date with what other processes wrote. It is
// cheap (one lseek) when they wrote nothing.
func (f *File) refresh(ctx context.Context) error {
	size, err := f.walSize()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	f.mu.RLock()
	writing := f.writing
	f.mu.RUnlock()
	if size <= writing {
		return nil // only this process's group in flight, if anything
	}
	if err := f.ioMu.Lock(ctx); err != nil {
		return err
	}
	defer f.ioMu.Unlock()
	if f.readOnly {
		return f.catchUp()
	}
	if err := lockFile(ctx, f.lock); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer unlockFile(f.lock)
	return f.catchUp()
}

// walSize returns the log's size. The log is only read and written at
// explicit offsets (ReadAt, WriteAt), so its file offset is free to move:
// lseek(2) to the end reports the size without the allocation of Stat.
func (f *File) walSize() (int64, error) {
	return f.wal.Size()
}

// catchUp reads the frames past f.end into the index. A bad frame there is
// a torn tail, cut off and reported, when no valid frame follows it (or
// only zeros lie between it and frames of its own commit group: a write
// torn unevenly). Otherwise the bad bytes are damage: the run they belong
// to is marked damaged and the scan goes on after them. f.ioMu and the
// lock file must be held.
func (f *File) catchUp() error {
	size, err := f.walSize()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	switch {
	case size == f.end:
		return nil
	case size < f.end:
		return errorf(ErrCorrupt, "%s shrank to %d bytes below the indexed %d", f.path, size, f.end)
	}
	// The index lock is held for the whole scan so that readers never see
	// some of its frames applied and not others.
	f.mu.Lock()
	defer f.mu.Unlock()
	metas := make(rawMetas)
	defer f.decodeMetas(metas)
	off := f.end
	for {
		end, bad, err := scanFrames(f.wal, off, size, func(fr frame, off int64, n int) error {
			f.applyFrame(metas, fr, off, n)
			return nil
		})
		f.end, f.writing = end, end
		if err != nil {
			return fmt.Errorf("store: read %s: %w", f.path, err)
		}
		if bad == nil {
			return nil
		}
		next, err := findFrame(f.wal, end+1, size, func(h frameHeader, at int64) bool { return h.group <= at })
		if err != nil {
			return fmt.Errorf("store: read %s: %w", f.path, err)
		}
		torn := next < 0
		if !torn {
			zeros, err := allZero(f.wal, end, next)
			if err != nil {
				return fmt.Errorf("store: read %s: %w", f.path, err)
			}
			if zeros {
				later, err := findFrame(f.wal, next, size, func(h frameHeader, _ int64) bool { return h.group > end })
				if err != nil {
					return fmt.Errorf("store: read %s: %w", f.path, err)
				}
				torn = later < 0
			}
		}
		if torn {
			return f.cutTail(end, size, bad)
		}
		f.markDamaged(Damage{RunID: attribute(f.wal, end, next), Offset: end, Size: next - end, Reason: bad.Error()})
		f.logger.Error("store: damaged frame in log", "path", f.path, "offset", end, "size", next-end, "reason", bad)
		off = next
	}
}

// cutTail cuts the torn tail [end, size) off the log and reports it; a
// read-only store only reports it and reads no further. f.ioMu, the lock
// file and f.mu must be held.
func (f *File) cutTail(end, size int64, bad error) error {
	rec := Recovery{Path: f.path, Offset: end, Cut: size - end, Reason: bad.Error()}
	if f.readOnly {
		f.logger.Error("store: torn tail at the end of the log (read-only: left in place)", "path", rec.Path, "offset", rec.Offset, "size", rec.Cut, "reason", rec.Reason)
		return nil
	}
	err := f.wal.Truncate(end)
	if err == nil {
		err = f.syncLog()
	}
	if err != nil {
		f.fail(fmt.Errorf("cut torn tail of %s: %w", f.path, err))
		return f.failed
	}
	f.report(rec)
	return nil
}

// report hands rec to the OnRecover callback and the logger.
func (f *File) report(rec Recovery) {
	f.logger.Error("store: cut torn tail off log (an unacknowledged write)", "path", rec.Path, "offset", rec.Offset, "cut", rec.Cut, "reason", rec.Reason)
	if f.onRecover != nil {
		f.onRecover(rec)
	}
}

// allZero reports whether r's bytes in [from, to) are all zero.
func allZero(r io.ReaderAt, from, to int64) (bool, error) {
	buf := make([]byte, min(to-from, scanBufferSize))
	for off := from; off < to; {
		n := min(int64(len(buf)), to-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return false, err
		}
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		off += n
	}
	return true, nil
}

// attribute returns the run a damaged frame at off (ending by next) most
// likely belongs to: the run ID its body names, if its header and the start
// of its body still parse; "" otherwise.
func attribute(r io.ReaderAt, off, next int64) string {
	if next-off < frameHeaderSize+2 {
		return ""
	}
	buf := make([]byte, min(next-off, frameHeaderSize+1+binary.MaxVarintLen64+MaxIDLen))
	if _, err := r.ReadAt(buf, off); err != nil {
		return ""
	}
	if binary.LittleEndian.Uint32(buf) != frameMagic {
		return ""
	}
	d := decoder{b: buf[frameHeaderSize+1:]}
	id := d.bytes()
	if d.err != nil || ValidateID(string(id)) != nil {
		return ""
	}
	return string(id)
}

// scanFrames reads the frames in [from, size) of r and calls fn with each
// valid one, its offset and its length, stopping at the first error fn
// returns. It returns where the valid frames end and, if that is before
// size, why the frame there is bad; err is an I/O error or fn's.
func scanFrames(r io.ReaderAt, from, size int64, fn func(fr frame, off int64, n int) error) (end int64, bad, err error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, from, size-from), int(min(scanBufferSize, max(size-from, 16))))
	var hdr [frameHeaderSize]byte
	var body []byte
	off := from
	for off < size {
		if size-off < frameHeaderSize {
			return off, errorf(ErrCorrupt, "short frame header: %d bytes", size-off), nil
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, nil, err
		}
		h, herr := parseHeader(hdr[:])
		if herr != nil {
			return off, herr, nil
		}
		if int64(h.size) > size-off-frameHeaderSize {
			return off, errorf(ErrCorrupt, "short frame body: %d of %d bytes", size-off-frameHeaderSize, h.size), nil
		}
		if cap(body) < int(h.size) {
			body = make([]byte, h.size)
		}
		body = body[:h.size]
		if _, err := io.ReadFull(br, body); err != nil {
			return off, nil, err
		}
		if crc(body) != h.bodyCRC {
			return off, errorf(ErrCorrupt, "frame body checksum mismatch"), nil
		}
		fr, derr := decodeBody(body)
		if derr != nil {
			// The checksum matched, so the frame was written this way.
			return off, derr, nil
		}
		n := frameHeaderSize + int(h.size)
		if err := fn(fr, off, n); err != nil {
			return off, nil, err
		}
		off += int64(n)
	}
	return off, nil, nil
}

// findFrame returns the offset of the first valid frame in [from, size) of
// r whose header accept takes, or -1 if there is none.
func findFrame(r io.ReaderAt, from, size int64, accept func(h frameHeader, off int64) bool) (int64, error) {
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], frameMagic)
	chunk := make([]byte, scanBufferSize)
	for base := from; base < size; base += int64(len(chunk) - len(magic) + 1) {
		n, err := r.ReadAt(chunk[:min(int64(len(chunk)), size-base)], base)
		if err != nil && err != io.EOF {
			return -1, err
		}
		buf := chunk[:n]
		for i := 0; ; {
			j := bytes.Index(buf[i:], magic[:])
			if j < 0 {
				break
			}
			off := base + int64(i+j)
			if ok, err := validFrameAt(r, off, size, accept); err != nil || ok {
				return off, err
			}
			i += j + 1
		}
		if base+int64(n) >= size {
			break
		}
	}
	return -1, nil
}

// validFrameAt reports whether a valid frame whose header accept takes
// begins at off.
func validFrameAt(r io.ReaderAt, off, size int64, accept func(h frameHeader, off int64) bool) (bool, error) {
	if size-off < frameHeaderSize {
		return false, nil
	}
	var hdr [frameHeaderSize]byte
	if _, err := r.ReadAt(hdr[:], off); err != nil {
		return false, err
	}
	h, err := parseHeader(hdr[:])
	if err != nil || !accept(h, off) || int64(h.size) > size-off-frameHeaderSize {
		return false, nil
	}
	body := make([]byte, h.size)
	if _, err := r.ReadAt(body, off+frameHeaderSize); err != nil {
		return false, err
	}
	return crc(body) == h.bodyCRC, nil
}
