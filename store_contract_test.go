package ratchet_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// noFence is a store with only the five methods of store.Store that
// fails every fenced append, and the test: the runtime must never send a
// Fence to a store without leases.
type noFence struct {
	store.Store
	t *testing.T
}

func (s noFence) Append(ctx context.Context, b store.Batch) error {
	if b.Fence != 0 {
		s.t.Errorf("append to %s fenced with %d on a store without leases", b.RunID, b.Fence)
		return fmt.Errorf("noFence: %w", store.ErrConflict)
	}
	return s.Store.Append(ctx, b)
}

// TestAgentRunsOnBasicStore: an agent whose store has only the five
// methods of store.Store (no leases, no deletes) runs a run with a tool
// call to completion with Agent.Run, fencing nothing and leaving no lease
// in the index; Start, Resume and Wait work too (without leases, two Runs
// of one run do not exclude each other: that is the application's part),
// and so do CancelRun and RetryRun.
func TestAgentRunsOnBasicStore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	st := noFence{ratchettest.BasicStore(b.store), t}
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":2,"b":3}`}),
		ratchettest.Text("5"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) { c.Store = st })
	out, err := a.Run(ctx, "add 2 and 3", nil)
	require.NoError(t, err)
	require.Equal(t, "5", out)
	require.Equal(t, int64(1), b.adds.Load())
	info, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.Zero(t, info.Lease, "no lease was taken")
	require.Equal(t, string(ratchet.StatusSucceeded), info.Status)

	// Start, then Resume in another Run: no lease to refuse it.
	m2 := ratchettest.NewModel(t, ratchettest.Text("done"))
	a2 := b.agent(t, m2, func(c *ratchet.Config) {
		c.Store = st
		c.NewID = func() string { return "run-2" }
	})
	r, err := a2.Start(ctx, "go", nil)
	require.NoError(t, err)
	r2, err := a2.Resume(ctx, "run-2", nil)
	require.NoError(t, err, "no lease: the application keeps one owner per run")
	require.NoError(t, r.Close(ctx))
	got, err := r2.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "done", got)
	require.Equal(t, ratchet.StatusSucceeded, r2.State().Status)

	// Operations that append from outside work without leases.
	a3 := b.agent(t, ratchettest.NewModel(t), func(c *ratchet.Config) {
		c.Store = st
		c.NewID = func() string { return "run-3" }
	})
	r3, err := a3.Start(ctx, "wait", nil)
	require.NoError(t, err)
	require.NoError(t, r3.Close(ctx))
	cancelled, err := ratchet.CancelRun(ctx, st, b.clock, "run-3", "not needed")
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusCancelled, cancelled.Status)
}

// TestNewSchedulerNeedsLeaser: a Scheduler leases every run it steps, so
// NewScheduler refuses a store without leases with a
// *store.UnsupportedError that names store.Leaser; with a Retention it
// also needs a store.Deleter.
func TestNewSchedulerNeedsLeaser(t *testing.T) {
	t.Parallel()
	basic := ratchettest.BasicStore(store.NewMemory(nil))
	_, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: basic})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	var ue *store.UnsupportedError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "Leaser", ue.Interface)
	require.EqualError(t, err, "ratchet: new scheduler: store ratchettest.basicStore does not implement store.Leaser: it has no leases")

	m := store.NewMemory(nil)
	leaseOnly := struct {
		store.Store
		store.Leaser
	}{ratchettest.BasicStore(m), m}
	_, err = ratchet.NewScheduler(ratchet.SchedulerConfig{Store: leaseOnly})
	require.NoError(t, err, "without a Retention, leases are enough")
	_, err = ratchet.NewScheduler(ratchet.SchedulerConfig{Store: leaseOnly, Retention: 1})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "Deleter", ue.Interface)
	require.ErrorContains(t, err, "ratchet: new scheduler: Retention: ")
	require.ErrorContains(t, err, "does not implement store.Deleter")
}

// TestDeleteRunNeedsDeleter: DeleteRun on a store that cannot delete
// returns a *store.UnsupportedError naming store.Deleter and leaves the
// run as it was.
func TestDeleteRunNeedsDeleter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	basic := ratchettest.BasicStore(b.store)
	a := b.agent(t, ratchettest.NewModel(t, ratchettest.Text("ok")), func(c *ratchet.Config) { c.Store = basic })
	_, err := a.Run(ctx, "go", nil)
	require.NoError(t, err)

	err = ratchet.DeleteRun(ctx, basic, "run-1")
	require.ErrorIs(t, err, errors.ErrUnsupported)
	var ue *store.UnsupportedError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "Deleter", ue.Interface)
	require.ErrorContains(t, err, `ratchet: delete run "run-1": store ratchettest.basicStore does not implement store.Deleter`)
	info, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err, "the run is still there")
	require.Equal(t, string(ratchet.StatusSucceeded), info.Status)

	require.NoError(t, ratchet.DeleteRun(ctx, b.store, "run-1"), "the full store deletes it")
}
