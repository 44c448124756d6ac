package ratchet_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// appendResumed appends a run_resumed record carrying override, the way an
// operator (the ratchet CLI's retry command) does.
func appendResumed(t *testing.T, s store.Store, runID string, override *ratchet.Budget) {
	t.Helper()
	ctx := context.Background()
	st, err := ratchet.LoadState(ctx, s, runID)
	require.NoError(t, err)
	rec := &ratchet.Record{Version: ratchet.FormatVersion, Kind: ratchet.RecRunResumed, Time: st.UpdatedAt, Step: st.Step, Budget: override}
	data, err := ratchet.EncodeRecord(rec)
	require.NoError(t, err)
	require.NoError(t, s.Append(ctx, store.Batch{RunID: runID, Expected: st.Seq, Records: [][]byte{data},
		Meta: store.Meta{Status: string(ratchet.StatusRunning), UpdatedAt: st.UpdatedAt}}))
}

func TestPersistedBudgetOverride(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	newPaused := func(t *testing.T) (*testBundle, *ratchet.Agent) {
		t.Helper()
		b := setup(t)
		m := ratchettest.NewModel(t,
			ratchettest.ToolCall(t, "add", addArgs{A: 1, B: 2}),
			ratchettest.ToolCall(t, "add", addArgs{A: 3, B: 4}),
			ratchettest.Text("7"),
		)
		a := b.agent(t, m, func(c *ratchet.Config) { c.Budget = ratchet.Budget{MaxSteps: 1, MaxCostUSD: 3} })
		_, err := a.Run(ctx, "add", nil)
		var be *ratchet.BudgetError
		require.ErrorAs(t, err, &be)
		require.Equal(t, ratchet.BudgetSteps, be.Budget)
		return b, a
	}

	t.Run("OverrideWins", func(t *testing.T) {
		t.Parallel()
		b, a := newPaused(t)
		appendResumed(t, b.store, "run-1", &ratchet.Budget{MaxSteps: 2})
		appendResumed(t, b.store, "run-1", &ratchet.Budget{MaxToolCalls: 50})

		st, err := ratchet.LoadState(ctx, b.store, "run-1")
		require.NoError(t, err)
		require.Equal(t, ratchet.StatusRunning, st.Status)
		require.Equal(t, &ratchet.Budget{MaxSteps: 2, MaxToolCalls: 50}, st.Budget, "overrides merge")
		recs, err := b.store.Read(ctx, "run-1", st.Seq)
		require.NoError(t, err)
		rec, err := ratchet.DecodeRecord(recs[0].Seq, recs[0].Data)
		require.NoError(t, err)
		require.Equal(t, "run_resumed step=1 budget=max_tool_calls=50", rec.String())

		// Two steps allowed now: the second call runs, then the limit pauses
		// the run again.
		r, err := a.Resume(ctx, "run-1", nil)
		require.NoError(t, err)
		_, err = r.Wait(ctx)
		var be *ratchet.BudgetError
		require.ErrorAs(t, err, &be)
		require.Equal(t, 2.0, be.Limit)
		require.Equal(t, 2, r.State().Step)

		appendResumed(t, b.store, "run-1", &ratchet.Budget{MaxSteps: 10})
		r, err = a.Resume(ctx, "run-1", nil)
		require.NoError(t, err)
		out, err := r.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, "7", out)
	})

	t.Run("RunOptionsWin", func(t *testing.T) {
		t.Parallel()
		b, a := newPaused(t)
		appendResumed(t, b.store, "run-1", &ratchet.Budget{MaxSteps: 10})
		r, err := a.Resume(ctx, "run-1", &ratchet.RunOptions{Budget: &ratchet.Budget{MaxSteps: 1}})
		require.NoError(t, err)
		_, err = r.Wait(ctx) // finishes step 1's tool call, then pauses
		var be *ratchet.BudgetError
		require.ErrorAs(t, err, &be)
		require.Equal(t, 1.0, be.Limit)
		require.Equal(t, 1, r.State().Step)
	})

	t.Run("SnapshotKeepsOverride", func(t *testing.T) {
		t.Parallel()
		st := ratchet.State{Budget: &ratchet.Budget{MaxSteps: 4}}
		c := st.Clone()
		c.Budget.MaxSteps = 5
		require.Equal(t, 4, st.Budget.MaxSteps, "Clone copies the override")
	})
}
