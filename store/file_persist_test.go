package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

func TestFileRestartKeepsIndexAndLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupFile(t)
	f := b.open(t)
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("X", -3600))
	for i := range 3 {
		info := store.RunInfo{
			ID: fmt.Sprintf("run-%d", i), Agent: "agent", Labels: map[string]string{"i": fmt.Sprint(i)},
			CreatedAt: t0.Add(time.Duration(i) * time.Second), Meta: store.Meta{Status: "pending", UpdatedAt: t0},
		}
		require.NoError(t, f.Create(ctx, info, [][]byte{[]byte("first")}))
	}
	require.NoError(t, f.Append(ctx, store.Batch{RunID: "run-0", Expected: 1, Records: [][]byte{[]byte("a"), []byte("b")}, Meta: store.Meta{
		Status: "sleeping", UpdatedAt: t0.Add(time.Minute), WakeAt: t0.Add(time.Hour), SnapshotSeq: 2,
		Totals: store.Totals{Steps: 1, InputTokens: 10, OutputTokens: 20, ToolCalls: 1, CostUSD: 0.1 + 0.2},
	}}))
	l0, err := f.AcquireLease(ctx, "run-0", "w1", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	l1, err := f.AcquireLease(ctx, "run-1", "w1", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.NoError(t, f.ReleaseLease(ctx, "run-1", l1))
	l1, err = f.AcquireLease(ctx, "run-1", "w2", t0, t0.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, uint64(2), l1.Token)
	before, err := f.List(ctx, store.Query{})
	require.NoError(t, err)
	require.NoError(t, f.Close())

	f = b.open(t)
	require.Empty(t, b.takeRecoveries())
	after, err := f.List(ctx, store.Query{})
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.Equal(t, []string{"first", "a", "b"}, records(t, f, "run-0"))

	// The leases are where they were.
	_, err = f.AcquireLease(ctx, "run-0", "w2", t0.Add(time.Minute), t0.Add(2*time.Hour))
	require.ErrorIs(t, err, store.ErrLeased)
	_, err = f.RenewLease(ctx, "run-0", l0, t0.Add(2*time.Hour))
	require.NoError(t, err)
	l, err := f.AcquireLease(ctx, "run-1", "w3", t0.Add(time.Hour), t0.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, uint64(3), l.Token, "tokens keep counting")
	err = f.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Fence: l1.Token})
	require.ErrorIs(t, err, store.ErrConflict, "fenced out across the restart")
}

func TestFilePermissions(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	b.dir = filepath.Join(b.dir, "nested")
	b.path = filepath.Join(b.dir, store.FileLogName)
	f := b.open(t)
	require.NoError(t, f.Create(context.Background(), store.RunInfo{ID: "r"}, [][]byte{[]byte("x")}))
	for _, dir := range []string{b.dir, filepath.Dir(b.dir)} {
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		require.Equal(t, fs.ModeDir|0o700, fi.Mode(), dir)
	}
	require.NoError(t, f.Close())
	for _, name := range []string{store.FileLogName, store.FileLockName, store.FileOpenName, store.FileIndexName} {
		fi, err := os.Stat(filepath.Join(b.dir, name))
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o600), fi.Mode(), name)
	}
}

func TestFileRejectsPathEscapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	f := openFile(t, filepath.Join(root, "store"), nil)
	for _, id := range []string{"../x", "../../etc/passwd", "a/b", "/tmp/x", "..", ".", `..\x`, "x\x00", "ratchet.wal/../x"} {
		require.ErrorIs(t, f.Create(ctx, store.RunInfo{ID: id}, [][]byte{[]byte("x")}), store.ErrInvalidID, id)
		require.ErrorIs(t, f.Append(ctx, store.Batch{RunID: id}), store.ErrInvalidID, id)
		_, err := f.Read(ctx, id, 1)
		require.ErrorIs(t, err, store.ErrInvalidID, id)
	}
	var paths []string
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, path)
		paths = append(paths, rel)
		return err
	}))
	require.Equal(t, []string{".", "store", "store/ratchet.lock", "store/ratchet.open", "store/ratchet.wal"}, paths)
}

func TestFileClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := openFile(t, t.TempDir(), nil)
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "r"}, nil))
	require.NoError(t, f.Close())
	require.ErrorIs(t, f.Close(), store.ErrClosed)
	require.ErrorIs(t, f.Create(ctx, store.RunInfo{ID: "s"}, nil), store.ErrClosed)
	require.ErrorIs(t, f.Append(ctx, store.Batch{RunID: "r"}), store.ErrClosed)
	_, err := f.Read(ctx, "r", 1)
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = f.Get(ctx, "r")
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = f.List(ctx, store.Query{})
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = f.AcquireLease(ctx, "r", "w", time.Now(), time.Now())
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = f.RenewLease(ctx, "r", store.Lease{}, time.Now())
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, f.ReleaseLease(ctx, "r", store.Lease{}), store.ErrClosed)
}

func TestFileCloseWaitsForCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := openFile(t, t.TempDir(), nil)
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "r"}, nil))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				ri, err := f.Get(ctx, "r")
				if errors.Is(err, store.ErrClosed) || !assert.NoError(t, err) {
					return
				}
				err = f.Append(ctx, store.Batch{RunID: "r", Expected: ri.LastSeq, Records: [][]byte{fmt.Appendf(nil, "%d-%d", w, i)}})
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if !errors.Is(err, store.ErrConflict) && !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, f.Close())
	wg.Wait()
}

func TestFileTwoOpensShareDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openFile(t, dir, nil), openFile(t, dir, nil)

	require.NoError(t, a.Create(ctx, store.RunInfo{ID: "r", Agent: "x"}, [][]byte{[]byte("1")}))
	require.ErrorIs(t, b.Create(ctx, store.RunInfo{ID: "r"}, nil), store.ErrExists)
	ri, err := b.Get(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, "x", ri.Agent)

	require.NoError(t, a.Append(ctx, store.Batch{RunID: "r", Expected: 1, Records: [][]byte{[]byte("a")}}))
	require.ErrorIs(t, b.Append(ctx, store.Batch{RunID: "r", Expected: 1, Records: [][]byte{[]byte("b")}}), store.ErrConflict)
	require.Equal(t, []string{"1", "a"}, records(t, b, "r"))

	now := time.Now()
	l, err := a.AcquireLease(ctx, "r", "A", now, now.Add(time.Hour))
	require.NoError(t, err)
	_, err = b.AcquireLease(ctx, "r", "B", now, now.Add(time.Hour))
	require.ErrorIs(t, err, store.ErrLeased)
	lb, err := b.AcquireLease(ctx, "r", "B", now.Add(time.Hour), now.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, l.Token+1, lb.Token)
	require.ErrorIs(t, a.Append(ctx, store.Batch{RunID: "r", Expected: 2, Fence: l.Token}), store.ErrConflict)

	// Writers in both, racing on one run.
	var wg sync.WaitGroup
	for w, s := range []*store.File{a, b, a, b} {
		wg.Go(func() {
			for i := 0; i < 25; {
				ri, err := s.Get(ctx, "r")
				if !assert.NoError(t, err) {
					return
				}
				err = s.Append(ctx, store.Batch{RunID: "r", Expected: ri.LastSeq, Records: [][]byte{fmt.Appendf(nil, "%d-%d", w, i)}})
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				i++
			}
		})
	}
	wg.Wait()
	ra, rb := records(t, a, "r"), records(t, b, "r")
	require.Len(t, ra, 102)
	require.Equal(t, ra, rb)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	require.Equal(t, ra, records(t, openFile(t, dir, nil), "r"))
}

// TestFileMatchesMemory applies the same random operations to a Memory and
// a File store, reopening the File now and then, and requires the same
// results.
func TestFileMatchesMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	mem := store.NewMemory(nil)
	f, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	ids := []string{"a", "b", "c", "d"}
	owners := []string{"w1", "w2"}
	leases := map[string]store.Lease{}
	sameErr := func(op string, em, ef error) {
		t.Helper()
		for _, s := range []error{store.ErrNotFound, store.ErrConflict, store.ErrExists, store.ErrLeased, store.ErrInvalidID} {
			require.Equal(t, errors.Is(em, s), errors.Is(ef, s), "%s: memory %v, file %v", op, em, ef)
		}
		require.Equal(t, em == nil, ef == nil, "%s: memory %v, file %v", op, em, ef)
	}
	for step := range 600 {
		id := ids[rng.IntN(len(ids))]
		now := t0.Add(time.Duration(step) * time.Minute)
		switch op := rng.IntN(11); {
		case op == 0:
			info := store.RunInfo{ID: id, Agent: fmt.Sprint(rng.IntN(2)), CreatedAt: now, Labels: map[string]string{"k": fmt.Sprint(rng.IntN(2))}}
			recs := randRecords(rng)
			sameErr("create", mem.Create(ctx, info, recs), f.Create(ctx, info, recs))
		case op <= 4:
			ri, _ := mem.Get(ctx, id)
			b := store.Batch{RunID: id, Expected: ri.LastSeq - uint64(rng.IntN(2)), Records: randRecords(rng),
				Meta: store.Meta{Status: fmt.Sprint(rng.IntN(3)), UpdatedAt: now, WakeAt: now.Add(time.Duration(rng.IntN(3)) * time.Hour)}}
			if rng.IntN(3) == 0 {
				b.Fence = leases[id].Token
			}
			sameErr("append", mem.Append(ctx, b), f.Append(ctx, b))
		case op == 5:
			owner := owners[rng.IntN(2)]
			until := now.Add(time.Duration(rng.IntN(3)) * time.Minute)
			lm, em := mem.AcquireLease(ctx, id, owner, now, until)
			lf, ef := f.AcquireLease(ctx, id, owner, now, until)
			sameErr("acquire", em, ef)
			require.Equal(t, lm, lf)
			if em == nil {
				leases[id] = lm
			}
		case op == 6:
			until := now.Add(time.Hour)
			lm, em := mem.RenewLease(ctx, id, leases[id], until)
			lf, ef := f.RenewLease(ctx, id, leases[id], until)
			sameErr("renew", em, ef)
			require.Equal(t, lm, lf)
		case op == 7:
			sameErr("release", mem.ReleaseLease(ctx, id, leases[id]), f.ReleaseLease(ctx, id, leases[id]))
		case op == 8:
			from := uint64(rng.IntN(12))
			rm, em := mem.Read(ctx, id, from)
			rf, ef := f.Read(ctx, id, from)
			sameErr("read", em, ef)
			require.Equal(t, rm, rf)
		case op == 9:
			sameErr("delete", mem.Delete(ctx, id), f.Delete(ctx, id))
		case rng.IntN(2) == 0:
			// (Another test's subprocess, forked while this test's last
			// open was still open, holds a copy of its lock for a moment:
			// Compact waits that out.)
			require.NoError(t, f.Compact(ctx))
		default:
			require.NoError(t, f.Close())
			f, err = store.NewFile(dir, nil)
			require.NoError(t, err)
		}
		q := store.Query{Statuses: []string{"0", "1", "pending"}[:rng.IntN(4)], DueBefore: now.Add(time.Duration(rng.IntN(2)) * time.Hour)}
		lm, err := mem.List(ctx, q)
		require.NoError(t, err)
		lf, err := f.List(ctx, q)
		require.NoError(t, err)
		require.Equal(t, lm, lf, "step %d", step)
	}
}

// randRecords returns 0 to 3 random records.
func randRecords(rng *rand.Rand) [][]byte {
	recs := make([][]byte, rng.IntN(4))
	for i := range recs {
		recs[i] = make([]byte, rng.IntN(20))
		for j := range recs[i] {
			recs[i][j] = byte(rng.IntN(256))
		}
	}
	return recs
}

// A run deleted through one File is gone for another on the same
// directory (it reads the deletion from the log), for a reopened store, and
// after the ID is created again the new run is the one that stays.
func TestFileDeleteSeenByOtherOpensAndReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a, b := openFile(t, dir, nil), openFile(t, dir, nil)
	for _, id := range []string{"r", "s"} {
		require.NoError(t, a.Create(ctx, store.RunInfo{ID: id, Agent: "x"}, [][]byte{[]byte(id + "1")}))
	}
	require.NoError(t, b.Append(ctx, store.Batch{RunID: "r", Expected: 1, Records: [][]byte{[]byte("r2")}}))
	require.NoError(t, a.Delete(ctx, "r"))
	_, err := b.Get(ctx, "r")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, b.Append(ctx, store.Batch{RunID: "r", Expected: 2, Records: [][]byte{[]byte("r3")}}), store.ErrNotFound)
	require.ErrorIs(t, b.Delete(ctx, "r"), store.ErrNotFound)
	require.Equal(t, []string{"s1"}, records(t, b, "s"))

	require.NoError(t, b.Create(ctx, store.RunInfo{ID: "r", Agent: "y"}, [][]byte{[]byte("new")}))
	require.Equal(t, []string{"new"}, records(t, a, "r"))
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	c := openFile(t, dir, nil)
	require.Equal(t, []string{"new"}, records(t, c, "r"))
	ri, err := c.Get(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, "y", ri.Agent)
	require.NoError(t, c.Delete(ctx, "s"))
	require.NoError(t, c.Close())
	// Opened from the checkpoint Close wrote, and from a full scan.
	require.NoError(t, os.Remove(filepath.Join(dir, store.FileIndexName)))
	d := openFile(t, dir, nil)
	infos, err := d.List(ctx, store.Query{})
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.Equal(t, "r", infos[0].ID)
}
