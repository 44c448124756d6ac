package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ratchet-run/ratchet/internal/faultfs"
)

// Compaction. The log is append-only, so what Delete removes and what
// appends replace (old Meta, old leases) stays in it. Compact writes a new
// log holding only the live runs, each as a creation frame with its records
// (more frames for a long run), an append frame with its current Meta and,
// when it has one, a lease frame, and puts it in place of the old one
// (write to a temp file, fsync, rename, fsync the directory).
//
// Other processes must not have the directory open meanwhile: they would
// go on with the old file. Every open holds a shared flock on
// ratchet.open for as long as it is open; Compact, holding the lock file
// that every writer and opener takes, tries to take ratchet.open
// exclusively without waiting, and fails with ErrBusy when another open
// (in this process or another) holds it. An open that starts during a
// compaction waits for it to end.

// FileOpenName is the name of the file every open of a File store holds a
// shared lock on (see File.Compact).
const FileOpenName = "ratchet.open"

// walTempPattern names compaction temp files (os.CreateTemp).
const walTempPattern = FileLogName + ".*.tmp"

// compactFrameBytes bounds the records one frame of a compacted log holds.
const compactFrameBytes = 8 << 20

// compactBusyWait bounds how long Compact tries for the store to itself
// (see Compact) before it returns ErrBusy.
const compactBusyWait = 100 * time.Millisecond

// ErrBusy is returned by File.Compact when another open of the store's
// directory exists.
var ErrBusy = errors.New("store: the store is open elsewhere")

// Compact rewrites the log without what deleted runs and replaced
// Meta and leases left in it, then reopens it and writes a new index
// checkpoint. Every run keeps its records, sequences, index entry and
// lease (token included, so fencing goes on). It returns ErrBusy, and
// changes nothing, when another open of the directory exists (another
// process, a CLI, a second NewFile in this process). Calls to the store
// wait while it runs. On a platform without flock(2), where only one
// process may open a directory, it does not check for other opens.
func (f *File) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.closeMu.Lock() // no call of this store is in flight, none starts
	defer f.closeMu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if f.readOnly {
		return fmt.Errorf("%w: compact %s", ErrReadOnly, f.dir)
	}
	if err := f.ioMu.Lock(ctx); err != nil {
		return err
	}
	defer f.ioMu.Unlock()
	if f.failed != nil {
		return f.failed
	}
	// The lock file first: it keeps every other writer, opener and
	// compactor of the directory out meanwhile.
	if err := lockFile(ctx, f.lock); err != nil {
		return fmt.Errorf("store: lock %s: %w", f.dir, err)
	}
	defer unlockFile(f.lock)
	// Only other opens hold ratchet.open now. flock(2) turns a lock into
	// another by dropping it first, so a failed attempt leaves this open
	// with none: it takes its shared lock back (which never waits, as no
	// compactor can hold the exclusive one while we hold the lock file).
	//
	// A process this one starts holds a copy of every open file for a
	// moment (between its fork and its exec), and so the lock of an open
	// of this directory that was just closed: the attempt is made a few
	// times over compactBusyWait before the store is called busy.
	for wait := time.Millisecond; ; wait *= 2 {
		err := tryLockExclusive(f.presence)
		if err == nil {
			break
		}
		if lerr := lockShared(context.Background(), f.presence); lerr != nil {
			f.fail(fmt.Errorf("lock %s: %w", FileOpenName, lerr))
			return f.failed
		}
		if wait > compactBusyWait || ctx.Err() != nil {
			return fmt.Errorf("%w: compact %s", ErrBusy, f.dir)
		}
		time.Sleep(wait)
	}
	defer func() { _ = lockShared(context.Background(), f.presence) }()
	if err := f.catchUp(); err != nil {
		return err
	}
	return f.rewrite(ctx)
}

// rewrite writes the compacted log and puts it in place; f.ioMu, the lock
// file and the exclusive open lock are held.
func (f *File) rewrite(ctx context.Context) error {
	tmp, err := f.fs.CreateTemp(f.dir, walTempPattern)
	if err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = f.fs.Remove(tmp.Name())
		}
	}()
	if err := f.writeCompacted(ctx, tmp); err != nil {
		return err
	}
	if !f.noSync {
		if err := tmp.Datasync(); err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	// The checkpoint describes the old log: it goes first, durably, so
	// that it never stands next to the shorter new log, where it would be
	// evidence of missing data.
	if err := f.fs.Remove(filepath.Join(f.dir, FileIndexName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: compact: %w", err)
	}
	if err := f.syncDir(f.dir); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	if err := f.fs.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	done = true
	if err := f.syncDir(f.dir); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	// The old log is gone; whatever happens next, reopen the new one.
	wal, err := f.fs.OpenFile(f.path, os.O_RDWR, 0o600)
	if err != nil {
		f.fail(fmt.Errorf("reopen %s after compaction: %w", f.path, err))
		return f.failed
	}
	old := f.wal
	f.wal = wal
	_ = old.Close()
	f.resetIndex()
	if err := f.catchUp(); err != nil {
		f.fail(fmt.Errorf("read the compacted log: %w", err))
		return f.failed
	}
	f.saveCheckpoint(0)
	return nil
}

// writeCompacted writes the header and every live run to w.
func (f *File) writeCompacted(ctx context.Context, w faultfs.File) error {
	hdr := walHeader()
	buf := append([]byte(nil), hdr[:]...)
	off := int64(0)
	flush := func(force bool) error {
		if len(buf) < compactFrameBytes && !force {
			return nil
		}
		n, err := w.WriteAt(buf, off)
		off += int64(n)
		buf = buf[:0]
		if err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		return nil
	}
	put := func(fr frame) error {
		body := appendBody(nil, fr)
		start := off + int64(len(buf))
		buf = appendFrame(buf, start, body, crc(body)) // each frame its own group
		return flush(false)
	}
	f.mu.RLock()
	ids := make([]string, 0, len(f.runs))
	for id := range f.runs {
		ids = append(ids, id)
	}
	f.mu.RUnlock()
	slices.Sort(ids)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		f.mu.RLock()
		run := f.runs[id]
		info, entries := cloneInfo(run.info), run.entries
		f.mu.RUnlock()
		var records [][]byte
		for _, e := range entries {
			fr, err := f.readFrame(e)
			if err != nil {
				return fmt.Errorf("store: compact: read %q: %w", id, err)
			}
			records = append(records, fr.records...)
		}
		if uint64(len(records)) != info.LastSeq {
			return errorf(ErrCorrupt, "compact: run %q has %d records, its index says %d", id, len(records), info.LastSeq)
		}
		created := newRunInfo(info, 0)
		state, err := json.Marshal(created)
		if err != nil {
			return fmt.Errorf("store: compact: %q: %w", id, err)
		}
		seq := uint64(1)
		first := chunk(records)
		if err := put(frame{kind: kindCreate, runID: id, seq: 1, records: records[:first], state: state}); err != nil {
			return err
		}
		records, seq = records[first:], seq+uint64(first)
		meta := info.Meta
		metaState, err := json.Marshal(&meta)
		if err != nil {
			return fmt.Errorf("store: compact: %q: %w", id, err)
		}
		for {
			n := chunk(records)
			if err := put(frame{kind: kindAppend, runID: id, seq: seq, records: records[:n], state: metaState}); err != nil {
				return err
			}
			records, seq = records[n:], seq+uint64(n)
			if len(records) == 0 {
				break
			}
		}
		if info.Lease != (Lease{}) {
			lease, err := json.Marshal(info.Lease)
			if err != nil {
				return fmt.Errorf("store: compact: %q: %w", id, err)
			}
			if err := put(frame{kind: kindLease, runID: id, state: lease}); err != nil {
				return err
			}
		}
	}
	return flush(true)
}

// chunk returns how many of records, at least one if there are any, go in
// one frame of a compacted log.
func chunk(records [][]byte) int {
	n, size := 0, 0
	for n < len(records) && (n == 0 || size+len(records[n]) <= compactFrameBytes) {
		size += len(records[n])
		n++
	}
	return n
}

// removeTempLogs removes compaction temp files a crash left behind.
func (f *File) removeTempLogs() {
	f.removeTemps(FileLogName)
}
