package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/internal/faultfs"
	"github.com/ratchet-run/ratchet/store"
)

// appendN appends one record "id-seq" to run id, expecting last seq seq-1.
func appendOne(ctx context.Context, f *store.File, id string, seq uint64) error {
	return f.Append(ctx, store.Batch{RunID: id, Expected: seq - 1, Records: [][]byte{fmt.Appendf(nil, "%s-%d", id, seq)}, Meta: store.Meta{Status: fmt.Sprint(seq)}})
}

// TestFileFailedWriteOrSync checks what the store does when a write or an
// fdatasync of its log fails. A failed write is undone (the log cut back
// and synced): the call gets the error and the store goes on once the disk
// works again (a full disk is transient). A failed fdatasync cannot be
// undone: the failing call and every later change get ErrFailed until the
// store is reopened. Either way nothing unacknowledged is reported, and a
// reopened store holds every acknowledged record and goes on.
func TestFileFailedWriteOrSync(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		fault  faultfs.Injector
		poison bool
	}{
		"EIO on write":        {faultfs.From(faultfs.OpWrite, 1, faultfs.Fault{Err: faultfs.EIO}), false},
		"ENOSPC on write":     {faultfs.From(faultfs.OpWrite, 1, faultfs.Fault{Err: faultfs.ENOSPC}), false},
		"short write":         {faultfs.Nth(faultfs.OpWrite, 1, faultfs.Fault{Err: faultfs.ENOSPC, Written: 20}), false},
		"short, no error":     {faultfs.Nth(faultfs.OpWrite, 1, faultfs.Fault{Written: 30}), false},
		"EIO on fdatasync":    {faultfs.Nth(faultfs.OpSync, 1, faultfs.Fault{Err: faultfs.EIO}), true},
		"ENOSPC on fdatasync": {faultfs.Nth(faultfs.OpSync, 1, faultfs.Fault{Err: faultfs.ENOSPC}), true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "store")
			fsys := faultfs.NewFaulty(faultfs.OS(), nil)
			f, err := store.NewFile(dir, &store.FileOptions{FS: fsys})
			require.NoError(t, err)
			require.NoError(t, f.Create(ctx, store.RunInfo{ID: "r", Agent: "a"}, nil))
			require.NoError(t, f.Create(ctx, store.RunInfo{ID: "other", Agent: "a"}, nil))
			for seq := uint64(1); seq <= 3; seq++ {
				require.NoError(t, appendOne(ctx, f, "r", seq))
			}

			fsys.SetInjector(faultfs.OnFile(store.FileLogName, tc.fault))
			err = appendOne(ctx, f, "r", 4)
			require.Error(t, err)
			fsys.SetInjector(nil) // the disk works again
			if !tc.poison {
				require.NotErrorIs(t, err, store.ErrFailed)
				// Undone: the store did not keep the failed batch and goes on.
				require.Equal(t, []string{"r-1", "r-2", "r-3"}, records(t, f, "r"))
				require.NoError(t, appendOne(ctx, f, "r", 4))
				require.NoError(t, appendOne(ctx, f, "other", 1))
				require.NoError(t, f.Close())
				f, err = store.NewFile(dir, &store.FileOptions{FS: fsys})
				require.NoError(t, err)
				defer f.Close()
				require.Equal(t, []string{"r-1", "r-2", "r-3", "r-4"}, records(t, f, "r"))
				require.Equal(t, []string{"other-1"}, records(t, f, "other"))
				return
			}
			require.ErrorIs(t, err, store.ErrFailed)
			// The store must not trust the disk until reopened.
			require.ErrorIs(t, appendOne(ctx, f, "r", 4), store.ErrFailed)
			require.ErrorIs(t, appendOne(ctx, f, "other", 1), store.ErrFailed)
			require.ErrorIs(t, f.Create(ctx, store.RunInfo{ID: "new"}, nil), store.ErrFailed)
			_, err = f.AcquireLease(ctx, "r", "w", time.Unix(10, 0), time.Unix(20, 0))
			require.ErrorIs(t, err, store.ErrFailed)
			require.ErrorIs(t, f.Delete(ctx, "other"), store.ErrFailed)

			// Reads serve what was acknowledged, and only that.
			ri, err := f.Get(ctx, "r")
			require.NoError(t, err)
			require.Equal(t, uint64(3), ri.LastSeq)
			require.Equal(t, []string{"r-1", "r-2", "r-3"}, records(t, f, "r"))
			require.NoError(t, f.Close())

			f, err = store.NewFile(dir, &store.FileOptions{FS: fsys})
			require.NoError(t, err)
			defer f.Close()
			got := records(t, f, "r")
			require.GreaterOrEqual(t, len(got), 3, "acknowledged records survive")
			require.Equal(t, []string{"r-1", "r-2", "r-3"}, got[:3])
			require.LessOrEqual(t, len(got), 4)
			if len(got) == 4 {
				require.Equal(t, "r-4", got[3], "the failed batch is whole if it is there")
			}
			require.NoError(t, appendOne(ctx, f, "r", uint64(len(got))+1), "the run goes on")
			require.NoError(t, appendOne(ctx, f, "other", 1))
		})
	}
}

// TestFileRandomFaults runs appends to several runs through random write
// and fdatasync faults, reopening the store after each failure, and checks
// that no acknowledged record is ever lost and every record read is one a
// writer tried.
func TestFileRandomFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	ids := []string{"a", "b", "c"}
	acked := map[string]uint64{}
	f, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	for _, id := range ids {
		require.NoError(t, f.Create(ctx, store.RunInfo{ID: id}, nil))
	}
	require.NoError(t, f.Close())
	failures := 0
	for round := range 40 {
		fsys := faultfs.NewFaulty(faultfs.OS(), faultfs.Random(uint64(round), 0.15, faultfs.EIO, faultfs.ENOSPC))
		f, err := store.NewFile(dir, &store.FileOptions{FS: fsys})
		if err != nil {
			// The open itself hit a fault (cutting a tail, a checkpoint
			// is only logged): try the next round.
			require.ErrorIs(t, err, store.ErrFailed)
			continue
		}
		for _, id := range ids {
			got := records(t, f, id)
			require.GreaterOrEqual(t, uint64(len(got)), acked[id], "round %d run %s", round, id)
			for i, r := range got {
				require.Equal(t, fmt.Sprintf("%s-%d", id, i+1), r)
			}
			acked[id] = max(acked[id], uint64(len(got)))
		}
		for i := 0; i < 200; i++ {
			id := ids[i%len(ids)]
			ri, err := f.Get(ctx, id)
			require.NoError(t, err)
			err = appendOne(ctx, f, id, ri.LastSeq+1)
			if err != nil {
				// A failed write is undone and the store goes on; a
				// failed fdatasync stops it until reopened.
				failures++
				if errors.Is(err, store.ErrFailed) {
					break
				}
				continue
			}
			acked[id] = ri.LastSeq + 1
		}
		_ = f.Close()
	}
	require.Positive(t, failures)
	f, err = store.NewFile(dir, nil)
	require.NoError(t, err)
	defer f.Close()
	for _, id := range ids {
		got := records(t, f, id)
		require.GreaterOrEqual(t, uint64(len(got)), acked[id])
	}
}
