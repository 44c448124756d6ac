package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// twentyRuns creates runs r00..r19 with three records each and closes the
// store (which writes an index checkpoint); it returns the log's offsets
// after each run's creation.
func twentyRuns(t *testing.T, dir string) []int64 {
	t.Helper()
	ctx := context.Background()
	f, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	var offs []int64
	for i := range 20 {
		id := fmt.Sprintf("r%02d", i)
		require.NoError(t, f.Create(ctx, store.RunInfo{ID: id}, [][]byte{[]byte("1"), []byte("2"), []byte("3")}))
		fi, err := os.Stat(filepath.Join(dir, store.FileLogName))
		require.NoError(t, err)
		offs = append(offs, fi.Size())
	}
	require.NoError(t, f.Close())
	return offs
}

// TestFileTruncatedLogIsCorrupt truncates a log whose checkpoint shows it
// was longer: the open fails with a *MissingDataError naming the lost runs
// and changes nothing (it opened and lost 11 of 20 runs before).
func TestFileTruncatedLogIsCorrupt(t *testing.T) {
	t.Parallel()
	for name, cut := range map[string]func(offs []int64) int64{
		"at a frame boundary": func(offs []int64) int64 { return offs[8] },
		"mid frame":           func(offs []int64) int64 { return offs[8] + 5 },
		"to the header":       func([]int64) int64 { return 16 },
		"into the header":     func([]int64) int64 { return 7 },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "store")
			offs := twentyRuns(t, dir)
			log := filepath.Join(dir, store.FileLogName)
			at := cut(offs)
			require.NoError(t, os.Truncate(log, at))
			_, err := store.NewFile(dir, nil)
			require.ErrorIs(t, err, store.ErrCorrupt)
			var me *store.MissingDataError
			require.True(t, errors.As(err, &me), "%v", err)
			require.Equal(t, at, me.Size)
			require.Equal(t, offs[19], me.Want)
			require.Contains(t, me.Runs, "r09")
			require.GreaterOrEqual(t, me.Lost, 11)
			fi, err := os.Stat(log)
			require.NoError(t, err)
			require.Equal(t, at, fi.Size(), "left as it is")
			_, err = store.NewFile(dir, &store.FileOptions{ReadOnly: true})
			require.ErrorIs(t, err, store.ErrCorrupt, "read-only too")
		})
	}
}

// TestFileDamagedRunOthersWork flips a bit in one run's frame, with and
// without the checkpoint: that run is damaged (its records before the
// damage readable, Get and Read return ErrDamaged, changes refused), every
// other run opens and works, across a reopen.
func TestFileDamagedRunOthersWork(t *testing.T) {
	t.Parallel()
	for _, withIdx := range []bool{false, true} {
		t.Run(fmt.Sprint("checkpoint=", withIdx), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "store")
			f, err := store.NewFile(dir, nil)
			require.NoError(t, err)
			require.NoError(t, f.Create(ctx, store.RunInfo{ID: "bad"}, [][]byte{[]byte("good-1")}))
			require.NoError(t, f.Create(ctx, store.RunInfo{ID: "ok"}, [][]byte{[]byte("ok-1")}))
			require.NoError(t, f.Append(ctx, store.Batch{RunID: "bad", Expected: 1, Records: [][]byte{[]byte("DAMAGED-HERE")}}))
			require.NoError(t, f.Append(ctx, store.Batch{RunID: "bad", Expected: 2, Records: [][]byte{[]byte("after")}}))
			require.NoError(t, f.Append(ctx, store.Batch{RunID: "ok", Expected: 1, Records: [][]byte{[]byte("ok-2")}}))
			require.NoError(t, f.Close())
			log := filepath.Join(dir, store.FileLogName)
			data, err := os.ReadFile(log)
			require.NoError(t, err)
			i := bytes.Index(data, []byte("DAMAGED-HERE"))
			data[i] ^= 0x01
			require.NoError(t, os.WriteFile(log, data, 0o600))
			if !withIdx {
				require.NoError(t, os.Remove(filepath.Join(dir, store.FileIndexName)))
			}

			for range 2 { // and again after a reopen
				f, err = store.NewFile(dir, nil)
				require.NoError(t, err)
				rs, err := f.Read(ctx, "bad", 1)
				require.ErrorIs(t, err, store.ErrDamaged)
				var de *store.DamagedError
				require.True(t, errors.As(err, &de))
				require.Equal(t, "bad", de.Damage.RunID)
				require.Equal(t, uint64(1), de.Damage.LastSeq)
				require.Equal(t, []store.Record{{Seq: 1, Data: []byte("good-1")}}, rs)
				_, err = f.Get(ctx, "bad")
				require.ErrorIs(t, err, store.ErrDamaged)
				require.ErrorIs(t, f.Append(ctx, store.Batch{RunID: "bad", Expected: 3}), store.ErrDamaged)
				require.ErrorIs(t, f.Append(ctx, store.Batch{RunID: "bad", Expected: 1}), store.ErrDamaged)
				infos, err := f.List(ctx, store.Query{})
				require.NoError(t, err)
				require.Len(t, infos, 1)
				require.Equal(t, "ok", infos[0].ID)
				ri, err := f.Get(ctx, "ok")
				require.NoError(t, err)
				require.NoError(t, f.Append(ctx, store.Batch{RunID: "ok", Expected: ri.LastSeq, Records: [][]byte{[]byte("more")}}))
				require.Len(t, f.Damage(), 1)
				require.NoError(t, f.Close())
			}
		})
	}
}

// TestFileFlipKeepsLaterFrames flips a bit in the next-to-last frame,
// another run's frame following it: that frame is kept and the store
// opens (it did not open before). TestFileUnevenTear covers frames of the
// same commit group.
func TestFileFlipKeepsLaterFrames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	f, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "a"}, nil))
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "b"}, nil))
	require.NoError(t, f.Close())
	log := filepath.Join(dir, store.FileLogName)
	before, err := os.ReadFile(log)
	require.NoError(t, err)
	f, err = store.NewFile(dir, nil)
	require.NoError(t, err)
	require.NoError(t, f.Append(ctx, store.Batch{RunID: "a", Records: [][]byte{[]byte("A-FRAME")}}))
	require.NoError(t, f.Append(ctx, store.Batch{RunID: "b", Records: [][]byte{[]byte("B-FRAME")}}))
	require.NoError(t, f.Close())
	data, err := os.ReadFile(log)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, before))
	data[bytes.Index(data, []byte("A-FRAME"))] ^= 0x04
	require.NoError(t, os.WriteFile(log, data, 0o600))
	require.NoError(t, os.Remove(filepath.Join(dir, store.FileIndexName)))

	f, err = store.NewFile(dir, nil)
	require.NoError(t, err)
	defer f.Close()
	rs, err := f.Read(ctx, "b", 1)
	require.NoError(t, err)
	require.Equal(t, []store.Record{{Seq: 1, Data: []byte("B-FRAME")}}, rs, "the frame after the damage is kept")
	_, err = f.Get(ctx, "a")
	require.ErrorIs(t, err, store.ErrDamaged)
}

func TestFileRefusesSymlinks(t *testing.T) {
	t.Parallel()
	for _, name := range []string{store.FileLogName, store.FileIndexName} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "store")
			twentyRuns(t, dir)
			path := filepath.Join(dir, name)
			target := filepath.Join(t.TempDir(), "elsewhere")
			require.NoError(t, os.Rename(path, target))
			require.NoError(t, os.Symlink(target, path))
			_, err := store.NewFile(dir, nil)
			require.ErrorIs(t, err, store.ErrUnsafeFile)
			_, err = store.NewFile(dir, &store.FileOptions{ReadOnly: true})
			require.ErrorIs(t, err, store.ErrUnsafeFile)
		})
	}
}

func TestFileDirModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "store")
	f := openFile(t, dir, nil)
	require.NoError(t, f.Close())
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), d)
	}
	require.NoError(t, os.Chmod(dir, 0o777))
	var logs bytes.Buffer
	openFile(t, dir, &store.FileOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.Contains(t, logs.String(), "writable by others")
}

// TestFileReadOnly opens a store read-only: it reads, sees what a writer
// appends later, refuses changes, and changes nothing on disk, not even a
// torn tail, in a directory its user may only read.
func TestFileReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	w := openFile(t, dir, nil)
	require.NoError(t, w.Create(ctx, store.RunInfo{ID: "r"}, [][]byte{[]byte("1")}))
	log := filepath.Join(dir, store.FileLogName)
	lf, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = lf.Write([]byte{0xc3, 0x52, 0xa7}) // a torn tail
	require.NoError(t, err)
	require.NoError(t, lf.Close())
	snapshot := func() map[string][]byte {
		m := map[string][]byte{}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			m[e.Name()] = data
		}
		return m
	}
	before := snapshot()
	require.NoError(t, os.Chmod(dir, 0o500))
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })

	r, err := store.NewFile(dir, &store.FileOptions{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, []string{"1"}, records(t, r, "r"))
	require.ErrorIs(t, r.Append(ctx, store.Batch{RunID: "r", Expected: 1}), store.ErrReadOnly)
	require.ErrorIs(t, r.Create(ctx, store.RunInfo{ID: "x"}, nil), store.ErrReadOnly)
	require.ErrorIs(t, r.Compact(ctx), store.ErrReadOnly)
	require.NoError(t, r.Close())
	require.Equal(t, before, snapshot(), "a read-only open changes nothing")
	_, err = store.NewFile(filepath.Join(dir, "missing"), &store.FileOptions{ReadOnly: true})
	require.ErrorIs(t, err, os.ErrNotExist, "a read-only open creates nothing")
}
