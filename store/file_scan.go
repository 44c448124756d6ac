package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ratchet-run/ratchet/internal/faultfs"
)

// Opening, catching up and recovery: reading the log into the index.

// scanBufferSize is the read buffer of a scan.
const scanBufferSize = 1 << 20

// open creates or opens the store's files and reads the log into the index.
func (f *File) open() error {
	created, err := mkdirPrivate(f.fs, f.dir)
	if err != nil {
		return err
	}
	for _, dir := range created {
		if err := f.syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	f.presence, err = f.fs.OpenFile(filepath.Join(f.dir, FileOpenName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// Held until Close; waits for a compaction in progress (see Compact).
	if err := lockShared(f.presence); err != nil {
		return err
	}
	f.lock, err = f.fs.OpenFile(filepath.Join(f.dir, FileLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.wal, err = f.fs.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	if err := lockFile(f.lock); err != nil {
		return err
	}
	defer unlockFile(f.lock)
	if err := f.openHeader(); err != nil {
		return err
	}
	f.removeTempCheckpoints()
	f.removeTempLogs()
	f.resetIndex()
	if !f.verifyLog && f.loadCheckpoint() {
		err := f.catchUp()
		if err == nil {
			f.saveCheckpoint(idxRewriteBytes)
			return nil
		}
		// Whatever is wrong, the log itself is the truth.
		f.warn("ignoring index checkpoint", err)
		f.resetIndex()
	}
	if err := f.catchUp(); err != nil {
		return err
	}
	f.saveCheckpoint(idxRewriteBytes)
	return nil
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
func (f *File) refresh() error {
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
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	if err := lockFile(f.lock); err != nil {
		return fmt.Errorf("store: lock %s: %w", f.dir, err)
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
// a torn tail, cut off and reported, unless a frame of a later commit group
// follows it: then the log is corrupt. f.ioMu and the lock file must be
// held.
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
	metas := make(rawMetas)
	var applyErr error
	end, bad, err := scanFrames(f.wal, f.end, size, func(fr frame, off int64, n int) error {
		applyErr = applyFrame(f.runs, metas, fr, off, n)
		return applyErr
	})
	if merr := decodeMetas(metas); applyErr == nil {
		applyErr = merr
	}
	f.end, f.writing = end, end
	f.mu.Unlock()
	if applyErr != nil {
		return fmt.Errorf("store: %s: %w", f.path, applyErr)
	}
	if err != nil {
		return fmt.Errorf("store: read %s: %w", f.path, err)
	}
	if bad == nil {
		return nil
	}
	later, err := laterGroup(f.wal, end, size)
	if err != nil {
		return fmt.Errorf("store: read %s: %w", f.path, err)
	}
	if later >= 0 {
		return errorf(ErrCorrupt, "%s: bad frame at offset %d (%v) before the frame at %d of a later commit", f.path, end, bad, later)
	}
	err = f.wal.Truncate(end)
	if err == nil {
		err = f.syncLog()
	}
	if err != nil {
		f.fail(fmt.Errorf("cut torn tail of %s: %w", f.path, err))
		return f.failed
	}
	f.report(Recovery{Path: f.path, Offset: end, Cut: size - end, Reason: bad.Error()})
	return nil
}

// report hands rec to the OnRecover callback and the logger.
func (f *File) report(rec Recovery) {
	if f.logger != nil {
		f.logger.Warn("store: cut torn tail off log", "path", rec.Path, "offset", rec.Offset, "cut", rec.Cut, "reason", rec.Reason)
	}
	if f.onRecover != nil {
		f.onRecover(rec)
	}
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
			return off, nil, fmt.Errorf("frame at %d: %w", off, derr)
		}
		n := frameHeaderSize + int(h.size)
		if err := fn(fr, off, n); err != nil {
			return off, nil, err
		}
		off += int64(n)
	}
	return off, nil, nil
}

// laterGroup returns the offset of the first valid frame in (bad, size) of r
// that belongs to a commit group starting after bad, or -1 if there is none.
// Frames of bad's own group may follow it when a crash tore that group's
// write unevenly; those are part of the torn tail.
func laterGroup(r io.ReaderAt, bad, size int64) (int64, error) {
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], frameMagic)
	chunk := make([]byte, scanBufferSize)
	for base := bad + 1; base < size; base += int64(len(chunk) - len(magic) + 1) {
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
			if ok, err := laterFrameAt(r, off, bad, size); err != nil || ok {
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

// laterFrameAt reports whether a valid frame of a group starting after bad
// begins at off.
func laterFrameAt(r io.ReaderAt, off, bad, size int64) (bool, error) {
	if size-off < frameHeaderSize {
		return false, nil
	}
	var hdr [frameHeaderSize]byte
	if _, err := r.ReadAt(hdr[:], off); err != nil {
		return false, err
	}
	h, err := parseHeader(hdr[:])
	if err != nil || h.group <= bad || int64(h.size) > size-off-frameHeaderSize {
		return false, nil
	}
	body := make([]byte, h.size)
	if _, err := r.ReadAt(body, off+frameHeaderSize); err != nil {
		return false, err
	}
	return crc(body) == h.bodyCRC, nil
}
