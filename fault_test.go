package ratchet_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// TestStoreFaults fails every append of many scripted runs in turn, with
// an I/O error, a full disk and a lost acknowledgement (the batch was
// written but Append failed). The run stops with ErrRunBroken wrapping the
// cause; the inner store holds the run as of its last successful append
// (plus the lost-ack batch); and resuming from it ends with the output an
// undisturbed run gives, without re-running persisted work.
func TestStoreFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	faults := []struct {
		name  string
		mode  ratchettest.FaultMode
		err   func() error
		match error
	}{
		{"io", ratchettest.FaultBefore, ratchettest.ErrIO, ratchettest.ErrInjected},
		{"enospc", ratchettest.FaultBefore, ratchettest.ErrDiskFull, syscall.ENOSPC},
		{"lost-ack", ratchettest.FaultAfter, ratchettest.ErrIO, syscall.EIO},
	}
	for seed := uint64(0); seed < 25; seed++ {
		sc := genScript(seed)
		var c0 counter
		counted := ratchettest.NewFaultStore(store.NewMemory(nil))
		want, err := newScriptAgent(t, counted.Store(), sc.model(t), &c0, 4).Run(ctx, "go", nil)
		require.NoError(t, err)
		total := counted.Appends()
		for n := 1; n <= total; n++ {
			for _, f := range faults {
				var inner store.Store = store.NewMemory(nil)
				if seed == 0 {
					fs, err := store.NewFile(t.TempDir(), nil)
					require.NoError(t, err)
					t.Cleanup(func() { _ = fs.Close() })
					inner = fs
				}
				fst := ratchettest.NewFaultStore(inner).FailAppend(n, f.mode, f.err())
				var c counter
				run, err := newScriptAgent(t, fst.Store(), sc.model(t), &c, 4).Start(ctx, "go", nil)
				require.NoError(t, err)
				_, err = run.Wait(ctx)
				require.ErrorIs(t, err, ratchet.ErrRunBroken, "seed %d append %d %s", seed, n, f.name)
				require.ErrorIs(t, err, f.match, "seed %d append %d %s", seed, n, f.name)
				// Further steps keep failing without touching the store.
				_, err = run.Step(ctx)
				require.ErrorIs(t, err, ratchet.ErrRunBroken)
				require.Equal(t, n, fst.Appends(), "a broken run appended again")

				live := run.State()
				loaded, err := ratchet.LoadState(ctx, inner, "run")
				require.NoError(t, err)
				if f.mode == ratchettest.FaultBefore {
					require.Equal(t, live.Seq, loaded.Seq, "seed %d append %d %s: store is not at the last good append", seed, n, f.name)
				} else {
					require.Greater(t, loaded.Seq, live.Seq, "seed %d append %d %s: lost-ack batch missing", seed, n, f.name)
				}

				recs, err := inner.Read(ctx, "run", 1)
				require.NoError(t, err)
				finished := finishedKeys(t, recs)
				m := sc.model(t)
				var c2 counter
				resumed, err := newScriptAgent(t, inner, m, &c2, 4).Resume(ctx, "run", nil)
				require.NoError(t, err)
				got, err := resumed.Wait(ctx)
				require.NoError(t, err, "seed %d append %d %s", seed, n, f.name)
				require.Equal(t, want, got)
				require.Equal(t, len(sc)-loaded.Step, m.Calls(), "seed %d append %d %s: model calls", seed, n, f.name)
				for key := range c2.runs {
					require.False(t, finished[key], "tool %s re-ran after its result was persisted", key)
				}
			}
		}
	}
}

// TestStoreReadFaults: a store that cannot be read gives an error wrapping
// the cause, never a half-loaded run; once it recovers the run resumes.
func TestStoreReadFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sc := genScript(7)
	fst := ratchettest.NewFaultStore(store.NewMemory(nil))
	var c counter
	a := newScriptAgent(t, fst.Store(), sc.model(t), &c, 4)
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	_, err = run.Step(ctx)
	require.NoError(t, err)
	require.NoError(t, run.Close(ctx)) // as if its process ended

	fst.FailReads(ratchettest.ErrIO())
	_, err = a.Resume(ctx, "run", nil)
	require.ErrorIs(t, err, syscall.EIO)
	require.False(t, errors.Is(err, store.ErrNotFound))

	fst.FailReads(nil)
	r2, err := a.Resume(ctx, "run", nil)
	require.NoError(t, err)
	got, err := r2.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "answer-7", got)
}
