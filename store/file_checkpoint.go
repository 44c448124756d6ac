package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Index checkpoints. Opening a store would otherwise read and verify the
// whole log. A checkpoint (ratchet.idx) saves the index as of a log offset,
// so that an open reads it and scans only the log after that offset. It is
// a cache: it is written with write-temp-fsync-rename-fsync-dir, checked
// against the log when loaded, and ignored (the whole log is scanned) if
// anything about it is off.
//
// Layout: the 8 bytes "RTCHTIDX", version (uint32, 1), 4 zero bytes; then
// uvarint covered (the log offset the index is as of), uint32 CRC-32C of
// the log's last min(4096, covered-16) bytes before covered (so a log that
// was truncated or replaced is noticed), uvarint run count, and per run:
// uvarint length + JSON RunInfo, uvarint entry count, and per entry the
// uvarints seq, offset delta from the previous entry, and frame size.
// Last, uint32 CRC-32C of everything before it.

const (
	// idxMagic and idxVersion open a checkpoint (idxHeaderSize bytes).
	idxMagic      = "RTCHTIDX"
	idxVersion    = 1
	idxHeaderSize = 16
	// idxTailCheck is how many log bytes before the covered offset a
	// checkpoint's tail checksum covers.
	idxTailCheck = 4096
	// idxRewriteBytes is how far the log must have grown past the last
	// checkpoint before an open writes a new one (Close writes one after
	// any growth).
	idxRewriteBytes = 1 << 20
	// idxTempPattern names checkpoint temp files (os.CreateTemp).
	idxTempPattern = FileIndexName + ".*.tmp"
)

// FileIndexName is the name of a File store's index checkpoint.
const FileIndexName = "ratchet.idx"

// resetIndex empties the index. f.ioMu must be held.
func (f *File) resetIndex() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = make(map[string]*fileRun)
	f.end, f.writing, f.idxEnd = walHeaderSize, walHeaderSize, 0
}

// loadCheckpoint replaces the empty index with the checkpoint's, if there
// is a valid one for this log, and reports whether it did. f.ioMu and the
// lock file must be held.
func (f *File) loadCheckpoint() bool {
	data, err := f.readFile(filepath.Join(f.dir, FileIndexName))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			f.warn("ignoring index checkpoint", err)
		}
		return false
	}
	size, err := f.wal.Size()
	if err != nil {
		f.warn("ignoring index checkpoint", err)
		return false
	}
	runs, covered, err := decodeCheckpoint(data, size, f.wal)
	if err != nil {
		f.warn("ignoring index checkpoint", err)
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs, f.end, f.writing, f.idxEnd = runs, covered, covered, covered
	return true
}

// saveCheckpoint writes a checkpoint of the index as of f.end if the log
// grew at least minGrowth bytes (and at all) past the last one. f.ioMu and
// the lock file must be held. Failures are only logged: the checkpoint is a
// cache.
func (f *File) saveCheckpoint(minGrowth int64) {
	if f.end <= f.idxEnd || f.end-f.idxEnd < minGrowth || f.failed != nil || f.readOnly || len(f.damage) > 0 {
		// A damaged store keeps no new checkpoint, so that every open
		// scans the damage again rather than trust an index without it.
		return
	}
	path := filepath.Join(f.dir, FileIndexName)
	if cur, err := f.readFile(path); err == nil {
		if covered, ok := checkpointCovered(cur); ok && covered >= f.end {
			f.idxEnd = covered
			return
		}
	}
	if err := f.writeCheckpoint(path); err != nil {
		f.warn("cannot write index checkpoint", err)
		return
	}
	f.idxEnd = f.end
}

// writeCheckpoint encodes the index and puts it in place atomically.
func (f *File) writeCheckpoint(path string) error {
	tail, err := tailChecksum(f.wal, f.end)
	if err != nil {
		return err
	}
	f.mu.RLock()
	data, err := encodeCheckpoint(f.runs, f.end, tail)
	f.mu.RUnlock()
	if err != nil {
		return err
	}
	tmp, err := f.fs.CreateTemp(f.dir, idxTempPattern)
	if err != nil {
		return err
	}
	defer f.fs.Remove(tmp.Name()) // after a successful rename, a no-op
	_, err = tmp.WriteAt(data, 0)
	if err == nil && !f.noSync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := f.fs.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return f.syncDir(f.dir)
}

// removeTempCheckpoints removes checkpoint temp files that a crash left
// behind. The lock file must be held (nobody else is writing one).
func (f *File) removeTempCheckpoints() {
	f.removeTemps(FileIndexName)
}

// removeTemps removes the files of the store's directory named like
// os.CreateTemp names temp files for base+".*.tmp".
func (f *File) removeTemps(base string) {
	names, err := f.fs.ReadDirNames(f.dir)
	if err != nil {
		return
	}
	for _, name := range names {
		if strings.HasPrefix(name, base+".") && strings.HasSuffix(name, ".tmp") {
			_ = f.fs.Remove(filepath.Join(f.dir, name))
		}
	}
}

// readFile reads the whole file name through the file layer.
func (f *File) readFile(name string) ([]byte, error) {
	file, err := f.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	size, err := file.Size()
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	n, err := file.ReadAt(data, 0)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, err
	}
	return data, nil
}

// warn logs a checkpoint problem, if there is a logger.
func (f *File) warn(msg string, err error) {
	f.logger.Warn("store: "+msg, "dir", f.dir, "err", err)
}

// tailChecksum returns the CRC-32C of the log's last idxTailCheck bytes (at
// most) before end.
func tailChecksum(r io.ReaderAt, end int64) (uint32, error) {
	start := max(end-idxTailCheck, walHeaderSize)
	buf := make([]byte, end-start)
	if _, err := r.ReadAt(buf, start); err != nil {
		return 0, err
	}
	return crc(buf), nil
}

// encodeCheckpoint encodes runs as of covered.
func encodeCheckpoint(runs map[string]*fileRun, covered int64, tail uint32) ([]byte, error) {
	buf := []byte(idxMagic)
	buf = binary.LittleEndian.AppendUint32(buf, idxVersion)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	buf = binary.AppendUvarint(buf, uint64(covered))
	buf = binary.LittleEndian.AppendUint32(buf, tail)
	buf = binary.AppendUvarint(buf, uint64(len(runs)))
	for _, run := range runs {
		info, err := json.Marshal(run.info)
		if err != nil {
			return nil, err
		}
		buf = appendBytes(buf, info)
		buf = binary.AppendUvarint(buf, uint64(len(run.entries)))
		prev := int64(0)
		for _, e := range run.entries {
			buf = binary.AppendUvarint(buf, e.seq)
			buf = binary.AppendUvarint(buf, uint64(e.off-prev))
			buf = binary.AppendUvarint(buf, uint64(e.size))
			prev = e.off
		}
	}
	return binary.LittleEndian.AppendUint32(buf, crc(buf)), nil
}

// checkpointCovered returns the offset a checkpoint is as of, if its header
// is sound.
func checkpointCovered(data []byte) (int64, bool) {
	if len(data) < idxHeaderSize || string(data[:len(idxMagic)]) != idxMagic ||
		binary.LittleEndian.Uint32(data[len(idxMagic):]) != idxVersion {
		return 0, false
	}
	covered, n := binary.Uvarint(data[idxHeaderSize:])
	return int64(covered), n > 0
}

// decodeCheckpoint decodes a checkpoint and checks it against the log
// (logSize bytes, read through log; nil: no check of the log's bytes).
func decodeCheckpoint(data []byte, logSize int64, log io.ReaderAt) (map[string]*fileRun, int64, error) {
	if len(data) < idxHeaderSize+4 {
		return nil, 0, fmt.Errorf("%d bytes is too short", len(data))
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc(body) != sum {
		return nil, 0, errors.New("checksum mismatch")
	}
	covered, ok := checkpointCovered(body)
	if !ok {
		return nil, 0, errors.New("bad header")
	}
	d := decoder{b: body[idxHeaderSize:]}
	d.uvarint() // covered
	if len(d.b) < 4 {
		return nil, 0, errors.New("truncated")
	}
	tail := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	if covered < walHeaderSize || covered > logSize {
		return nil, 0, fmt.Errorf("covers %d bytes of a %d-byte log", covered, logSize)
	}
	if log != nil {
		if got, err := tailChecksum(log, covered); err != nil || got != tail {
			return nil, 0, fmt.Errorf("log does not match at offset %d (%v)", covered, err)
		}
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, 0, errors.New("bad run count")
	}
	runs := make(map[string]*fileRun, n)
	for range n {
		run := &fileRun{}
		if err := json.Unmarshal(d.bytes(), &run.info); err != nil && d.err == nil {
			return nil, 0, err
		}
		ne := d.uvarint()
		if ne > uint64(len(d.b)) {
			return nil, 0, errors.New("bad entry count")
		}
		run.entries = make([]walEntry, ne)
		prev := int64(0)
		for i := range run.entries {
			e := &run.entries[i]
			e.seq, e.off, e.size = d.uvarint(), prev+int64(d.uvarint()), uint32(d.uvarint())
			if e.off < prev || e.off+int64(e.size) > covered || e.seq == 0 || e.seq > run.info.LastSeq {
				return nil, 0, fmt.Errorf("bad entry of run %q", run.info.ID)
			}
			prev = e.off
		}
		if d.err != nil {
			return nil, 0, d.err
		}
		if ValidateID(run.info.ID) != nil || runs[run.info.ID] != nil {
			return nil, 0, fmt.Errorf("bad run %q", run.info.ID)
		}
		runs[run.info.ID] = run
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, 0, errors.New("malformed")
	}
	return runs, covered, nil
}
