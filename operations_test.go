package ratchet_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

func TestCancelRunFromOutside(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("3"))
	a := b.agent(t, m, nil)
	run, err := a.Start(ctx, "1+2", nil)
	require.NoError(t, err)
	_, err = run.Step(ctx)
	require.NoError(t, err)

	st, err := ratchet.CancelRun(ctx, b.store, b.clock, "run-1", "wrong question")
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusCancelled, st.Status)
	info, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.Equal(t, "cancelled", info.Status)

	// The process still holding the run finds out at its next append
	// (after its next model call), and persists nothing more.
	_, err = run.Step(ctx)
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorIs(t, err, ratchet.ErrRunBroken)
	// Loaded again, the run has ended.
	again, err := a.Resume(ctx, "run-1", nil)
	require.NoError(t, err)
	_, err = again.Step(ctx)
	require.ErrorIs(t, err, ratchet.ErrRunEnded)
	require.ErrorContains(t, err, "wrong question")

	_, err = ratchet.CancelRun(ctx, b.store, nil, "run-1", "again")
	var se *ratchet.RunStatusError
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, ratchet.ErrRunEnded)
	_, err = ratchet.CancelRun(ctx, b.store, nil, "nope", "x")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestRetryRunRaisesBudget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("3"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Budget = ratchet.Budget{MaxSteps: 1} })
	_, err := a.Run(ctx, "1+2", nil)
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)

	_, err = ratchet.RetryRun(ctx, b.store, b.clock, "run-1", &ratchet.Budget{MaxSteps: 5})
	require.NoError(t, err)
	info, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.Equal(t, "running", info.Status)

	// Any process owning the agent continues it with the persisted budget.
	run, err := a.Resume(ctx, "run-1", nil)
	require.NoError(t, err)
	out, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "3", out)
	require.Equal(t, 2, m.Calls(), "the persisted response was not asked for again")

	_, err = ratchet.RetryRun(ctx, b.store, nil, "run-1", nil)
	var se *ratchet.RunStatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, ratchet.StatusSucceeded, se.Status)
}

// DeleteRun removes an ended run and its inbox, refuses one that has not
// ended, and frees the ID.
func TestDeleteRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ids := []string{"done", "paused"}
	next := 0
	m := ratchettest.NewModel(t, ratchettest.Text("3"), ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("again"))
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Budget = ratchet.Budget{MaxSteps: 1}
		c.NewID = func() string { next++; return ids[next-1] }
	})
	_, err := a.Run(ctx, "1+2", nil)
	require.NoError(t, err)
	_, err = a.Run(ctx, "1+2", nil)
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded) // paused, not ended
	require.NoError(t, b.store.Create(ctx, store.RunInfo{ID: ratchet.InboxID("done"), Agent: ratchet.InboxAgent}, [][]byte{[]byte(`{}`)}))

	err = ratchet.DeleteRun(ctx, b.store, "paused")
	var se *ratchet.RunStatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, ratchet.RunStatusError{Op: "delete", RunID: "paused", Status: ratchet.StatusPaused}, *se)
	require.NotErrorIs(t, err, ratchet.ErrRunEnded)
	_, err = b.store.Get(ctx, "paused")
	require.NoError(t, err, "a refused delete deletes nothing")

	require.NoError(t, ratchet.DeleteRun(ctx, b.store, "done"))
	for _, id := range []string{"done", ratchet.InboxID("done")} {
		_, err = b.store.Get(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, id)
	}
	_, err = a.Resume(ctx, "done", nil)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, ratchet.DeleteRun(ctx, b.store, "done"), store.ErrNotFound)
	require.ErrorIs(t, ratchet.DeleteRun(ctx, b.store, "nope"), store.ErrNotFound)

	// Cancelled, it can go; and the ID can be used again.
	_, err = ratchet.CancelRun(ctx, b.store, nil, "paused", "abandoned")
	require.NoError(t, err)
	require.NoError(t, ratchet.DeleteRun(ctx, b.store, "paused"))
	infos, err := b.store.List(ctx, store.Query{})
	require.NoError(t, err)
	require.Empty(t, infos)
	run, err := a.Start(ctx, "again", &ratchet.RunOptions{ID: "done"})
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusRunning, run.Status())
}
