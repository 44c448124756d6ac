package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// checkpointBundle is a store directory with a log long enough that its
// start lies outside a checkpoint's tail checksum.
type checkpointBundle struct {
	dir, log, idx string
	logs          bytes.Buffer
}

// setupCheckpoint fills a store with runs and closes it, which writes a
// checkpoint.
func setupCheckpoint(t *testing.T) *checkpointBundle {
	t.Helper()
	b := &checkpointBundle{dir: t.TempDir()}
	b.log, b.idx = filepath.Join(b.dir, FileLogName), filepath.Join(b.dir, FileIndexName)
	f := b.open(t, false)
	ctx := context.Background()
	for r := range 3 {
		id := fmt.Sprintf("run-%d", r)
		require.NoError(t, f.Create(ctx, RunInfo{ID: id, Labels: map[string]string{"r": id}}, nil))
		for i := range 40 {
			require.NoError(t, f.Append(ctx, Batch{RunID: id, Expected: uint64(2 * i),
				Records: [][]byte{bytes.Repeat([]byte{'a' + byte(r)}, 100), []byte(fmt.Sprint(i))}, Meta: Meta{Status: fmt.Sprint(i)}}))
		}
	}
	_, err := f.AcquireLease(ctx, "run-1", "w", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.FileExists(t, b.idx)
	return b
}

// open opens the bundle's store, logging to b.logs.
func (b *checkpointBundle) open(t *testing.T, verify bool) *File {
	t.Helper()
	f, err := b.tryOpen(verify)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// tryOpen opens the bundle's store, logging to b.logs.
func (b *checkpointBundle) tryOpen(verify bool) (*File, error) {
	return NewFile(b.dir, &FileOptions{
		noSync: true, VerifyLog: verify,
		Logger: slog.New(slog.NewTextHandler(&b.logs, nil)),
	})
}

func TestFileCheckpointSkipsCoveredLog(t *testing.T) {
	t.Parallel()
	b := setupCheckpoint(t)
	want := b.open(t, true) // the whole log, verified
	require.NoError(t, want.Close())

	// Damage a record early in the log, outside the tail checksum.
	data, err := os.ReadFile(b.log)
	require.NoError(t, err)
	i := bytes.Index(data, bytes.Repeat([]byte{'a'}, 100))
	require.Less(t, i, len(data)-2*idxTailCheck)
	data[i] = 'X'
	require.NoError(t, os.WriteFile(b.log, data, 0o600))

	// The checkpoint is used: the damaged frame is not read at open...
	f := b.open(t, false)
	require.Equal(t, int64(len(data)), f.idxEnd)
	require.Empty(t, b.logs.String())
	ri, err := f.Get(context.Background(), "run-0")
	require.NoError(t, err)
	require.Equal(t, uint64(80), ri.LastSeq)
	// ...but found when read.
	_, err = f.Read(context.Background(), "run-0", 1)
	require.ErrorIs(t, err, ErrCorrupt)
	// The run is damaged from then on (it was a plain ErrCorrupt of that
	// Read before runs could be damaged); the others are not.
	rs, err := f.Read(context.Background(), "run-0", 70)
	require.ErrorIs(t, err, ErrDamaged)
	require.Empty(t, rs)
	_, err = f.Get(context.Background(), "run-1")
	require.NoError(t, err)

	// VerifyLog reads the whole log and finds the damage at open (it
	// failed the whole open before).
	v, err := b.tryOpen(true)
	require.NoError(t, err)
	defer v.Close()
	require.Len(t, v.Damage(), 1)
	require.Equal(t, "run-0", v.Damage()[0].RunID)
	_, err = v.Get(context.Background(), "run-0")
	require.ErrorIs(t, err, ErrDamaged)
}

func TestFileCheckpointMatchesFullScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCheckpoint(t)
	// Another open appends past the checkpoint and stays open (no new
	// checkpoint): a third open loads the checkpoint and scans the rest.
	w := b.open(t, false)
	require.NoError(t, w.Append(ctx, Batch{RunID: "run-2", Expected: 80, Records: [][]byte{[]byte("late")}, Meta: Meta{Status: "late"}}))
	require.NoError(t, w.Create(ctx, RunInfo{ID: "run-new"}, [][]byte{[]byte("new")}))
	_, err := w.AcquireLease(ctx, "run-0", "x", time.Time{}, time.Time{})
	require.NoError(t, err)

	idxBefore, err := os.ReadFile(b.idx)
	require.NoError(t, err)
	got := b.open(t, false)
	full := b.open(t, true)
	requireSameStores(t, full, got)
	ri, err := got.Get(ctx, "run-2")
	require.NoError(t, err)
	require.Equal(t, "late", ri.Status)
	idxAfter, err := os.ReadFile(b.idx)
	require.NoError(t, err)
	require.Equal(t, idxBefore, idxAfter, "a small tail does not rewrite the checkpoint at open")
	require.Empty(t, b.logs.String())

	// Close writes a checkpoint covering everything; the next open uses it.
	require.NoError(t, w.Close())
	f := b.open(t, false)
	fi, err := os.Stat(b.log)
	require.NoError(t, err)
	require.Equal(t, fi.Size(), f.idxEnd)
	requireSameStores(t, full, f)
}

func TestFileCheckpointIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(t *testing.T, b *checkpointBundle)
	}{
		{"flipped bit", func(t *testing.T, b *checkpointBundle) {
			data, err := os.ReadFile(b.idx)
			require.NoError(t, err)
			data[len(data)/2] ^= 1
			require.NoError(t, os.WriteFile(b.idx, data, 0o600))
		}},
		{"truncated", func(t *testing.T, b *checkpointBundle) {
			require.NoError(t, os.Truncate(b.idx, 100))
		}},
		{"not a checkpoint", func(t *testing.T, b *checkpointBundle) {
			require.NoError(t, os.WriteFile(b.idx, []byte("hello"), 0o600))
		}},
		{"log rewritten", func(t *testing.T, b *checkpointBundle) {
			data, err := os.ReadFile(b.log)
			require.NoError(t, err)
			i := bytes.LastIndex(data, []byte("39"))
			data[i] = '8' // with fixed checksums: a log that just differs
			start := bytes.LastIndex(data[:i], []byte{0xc3, 0x52, 0xa7, 0x1e})
			h, err := parseHeader(data[start:])
			require.NoError(t, err)
			fixed := appendFrame(nil, h.group, data[start+frameHeaderSize:start+frameHeaderSize+int(h.size)], crc(data[start+frameHeaderSize:start+frameHeaderSize+int(h.size)]))
			copy(data[start:], fixed)
			require.NoError(t, os.WriteFile(b.log, data, 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupCheckpoint(t)
			tt.damage(t, b)
			f := b.open(t, false)
			require.Zero(t, f.idxEnd, "checkpoint not loaded")
			require.Contains(t, b.logs.String(), "ignoring index checkpoint")
			full := b.open(t, true)
			requireSameStores(t, full, f)
		})
	}
}

func TestFileCheckpointTempFilesRemoved(t *testing.T) {
	t.Parallel()
	b := setupCheckpoint(t)
	stale := filepath.Join(b.dir, FileIndexName+".123.tmp")
	require.NoError(t, os.WriteFile(stale, []byte("half a checkpoint"), 0o600))
	b.open(t, false)
	require.NoFileExists(t, stale)
	fi, err := os.Stat(b.idx)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode())
}

// FuzzDecodeCheckpoint feeds arbitrary run data, wrapped in a checkpoint
// with valid checksums for a small log, to the checkpoint decoder: it must
// never panic, and what it accepts must survive an encode-decode round trip.
func FuzzDecodeCheckpoint(f *testing.F) {
	logData := append([]byte(walMagic+"\x01\x00\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{7}, 100)...)
	covered := int64(len(logData))
	tail, err := tailChecksum(bytes.NewReader(logData), covered)
	require.NoError(f, err)
	wrap := func(runData []byte) []byte {
		buf := []byte(idxMagic + "\x01\x00\x00\x00\x00\x00\x00\x00")
		buf = binary.AppendUvarint(buf, uint64(covered))
		buf = binary.LittleEndian.AppendUint32(buf, tail)
		buf = append(buf, runData...)
		return binary.LittleEndian.AppendUint32(buf, crc(buf))
	}
	valid, err := encodeCheckpoint(map[string]*fileRun{
		"r": {info: RunInfo{ID: "r", LastSeq: 5}, entries: []walEntry{{seq: 1, off: 16, size: 40}, {seq: 4, off: 60, size: 40}}},
	}, covered, tail)
	require.NoError(f, err)
	f.Add(valid[idxHeaderSize+1+4 : len(valid)-4])
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{1, 2, '{', '}', 0})
	f.Fuzz(func(t *testing.T, runData []byte) {
		data := wrap(runData)
		runs, got, err := decodeCheckpoint(data, covered, bytes.NewReader(logData))
		if err != nil {
			return
		}
		require.Equal(t, covered, got)
		if len(runs) != 1 {
			return // map order makes several runs' encodings differ
		}
		again, err := encodeCheckpoint(runs, covered, tail)
		require.NoError(t, err)
		runs2, _, err := decodeCheckpoint(again, covered, bytes.NewReader(logData))
		require.NoError(t, err)
		require.Equal(t, runs, runs2)
	})
}
