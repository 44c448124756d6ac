package store_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// snapshot is everything a store says about its runs.
type snapshot struct {
	infos   []store.RunInfo
	records map[string][]store.Record
}

func takeSnapshot(t *testing.T, s store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	infos, err := s.List(ctx, store.Query{})
	require.NoError(t, err)
	snap := snapshot{infos: infos, records: map[string][]store.Record{}}
	for _, in := range infos {
		recs, err := s.Read(ctx, in.ID, 1)
		require.NoError(t, err)
		snap.records[in.ID] = recs
	}
	return snap
}

func walSize(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, store.FileLogName))
	require.NoError(t, err)
	return fi.Size()
}

// Compact keeps every live run as it was (index entry, records, lease and
// its token) and drops what deleted runs and replaced Meta took; the store
// goes on from there, and so does a reopened one.
func TestFileCompact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	f := openFile(t, dir, nil)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 20 {
		id := fmt.Sprintf("run-%02d", i)
		require.NoError(t, f.Create(ctx, store.RunInfo{ID: id, Agent: "a", CreatedAt: t0, Labels: map[string]string{"i": fmt.Sprint(i)},
			Meta: store.Meta{Status: "running", UpdatedAt: t0}}, [][]byte{[]byte(id + "/1")}))
		for seq := uint64(1); seq < 10; seq++ {
			require.NoError(t, f.Append(ctx, store.Batch{RunID: id, Expected: seq, Records: [][]byte{fmt.Appendf(nil, "%s/%d %0100d", id, seq+1, 0)},
				Meta: store.Meta{Status: "running", UpdatedAt: t0.Add(time.Duration(seq) * time.Second), SnapshotSeq: seq / 4, WakeAt: t0.Add(time.Hour)}}))
		}
	}
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "empty", Agent: "a"}, nil))
	// A run with a released lease (its token stays), one with a held lease.
	l, err := f.AcquireLease(ctx, "run-01", "w1", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.NoError(t, f.ReleaseLease(ctx, "run-01", l))
	held, err := f.AcquireLease(ctx, "run-02", "w1", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	held, err = f.AcquireLease(ctx, "run-02", "w2", t0.Add(2*time.Hour), t0.Add(3*time.Hour)) // token 2
	require.NoError(t, err)
	for i := 10; i < 20; i++ {
		require.NoError(t, f.Delete(ctx, fmt.Sprintf("run-%02d", i)))
	}
	before, size := takeSnapshot(t, f), walSize(t, dir)

	require.NoError(t, f.Compact(ctx))
	require.Equal(t, before, takeSnapshot(t, f))
	require.Less(t, walSize(t, dir), size*6/10, "about half the runs were deleted")

	// It goes on: sequences, fences and tokens as before.
	require.ErrorIs(t, f.Append(ctx, store.Batch{RunID: "run-02", Expected: 10, Records: [][]byte{[]byte("x")}, Fence: held.Token - 1}), store.ErrConflict)
	require.NoError(t, f.Append(ctx, store.Batch{RunID: "run-02", Expected: 10, Records: [][]byte{[]byte("run-02/11")}, Fence: held.Token}))
	l3, err := f.AcquireLease(ctx, "run-01", "w3", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, l.Token+1, l3.Token, "tokens keep counting")
	require.NoError(t, f.Append(ctx, store.Batch{RunID: "empty", Expected: 0, Records: [][]byte{[]byte("first")}}))
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "run-15", Agent: "b"}, [][]byte{[]byte("again")}))
	after := takeSnapshot(t, f)
	require.NoError(t, f.Close())

	// Reopened from the checkpoint Compact and Close wrote, then from the
	// log alone.
	g := openFile(t, dir, nil)
	require.Equal(t, after, takeSnapshot(t, g))
	require.NoError(t, g.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, store.FileIndexName)))
	h := openFile(t, dir, &store.FileOptions{VerifyLog: true})
	require.Equal(t, after, takeSnapshot(t, h))
	require.NoError(t, h.Compact(ctx), "twice in a row")
	require.Equal(t, after, takeSnapshot(t, h))
}

// Compact refuses, changing nothing, while the directory is open
// elsewhere (here a second open in this process; another process is the
// same to flock), and works once it is closed.
func TestFileCompactBusy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openFile(t, dir, nil), openFile(t, dir, nil)
	require.NoError(t, a.Create(ctx, store.RunInfo{ID: "r"}, [][]byte{[]byte("1")}))
	require.NoError(t, a.Create(ctx, store.RunInfo{ID: "gone"}, [][]byte{[]byte("1")}))
	require.NoError(t, a.Delete(ctx, "gone"))
	size := walSize(t, dir)
	require.ErrorIs(t, a.Compact(ctx), store.ErrBusy)
	require.ErrorIs(t, b.Compact(ctx), store.ErrBusy)
	require.Equal(t, size, walSize(t, dir))
	require.Equal(t, []string{"1"}, records(t, a, "r"), "still usable")
	require.NoError(t, b.Append(ctx, store.Batch{RunID: "r", Expected: 1, Records: [][]byte{[]byte("2")}}))
	require.NoError(t, b.Close())
	require.NoError(t, a.Compact(ctx))
	require.Less(t, walSize(t, dir), size)
	require.Equal(t, []string{"1", "2"}, records(t, a, "r"))
	require.NoError(t, a.Close())
	require.ErrorIs(t, a.Compact(ctx), store.ErrClosed)
}

// A compaction cut short by a crash leaves a temp file and the old log:
// the next open removes the one and reads the other.
func TestFileCompactTempFileRemoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	f := openFile(t, dir, nil)
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "r"}, [][]byte{[]byte("1")}))
	require.NoError(t, f.Close())
	tmp := filepath.Join(dir, store.FileLogName+".123.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("half a log"), 0o600))
	g := openFile(t, dir, nil)
	require.Equal(t, []string{"1"}, records(t, g, "r"))
	_, err := os.Stat(tmp)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestCompactWhileTheProcessStartsSubprocesses: a subprocess holds a copy
// of every open file between its fork and its exec, so the lock of an open
// just closed may still be held for a moment; Compact waits that out
// rather than calling the store busy (it did, about 1 time in 12 here).
func TestCompactWhileTheProcessStartsSubprocesses(t *testing.T) {
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to start")
	}
	ctx := context.Background()
	dir := t.TempDir()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = exec.Command(bin).Run()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 200 {
		f, err := store.NewFile(dir, nil)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		f, err = store.NewFile(dir, nil)
		require.NoError(t, err)
		require.NoError(t, f.Compact(ctx), "round %d", i)
		require.NoError(t, f.Close())
	}
}
