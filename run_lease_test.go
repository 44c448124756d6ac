package ratchet_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// gateTool returns a tool that counts its calls and blocks until gate is
// closed (or its context ends).
func gateTool(name string, calls *atomic.Int64, gate <-chan struct{}) ratchet.Tool {
	return ratchet.NewTool(name, "Waits for the gate.", func(ctx context.Context, _ struct{}) (string, error) {
		calls.Add(1)
		select {
		case <-gate:
			return name + " done", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
}

// TestResumeOfALeasedRunIsBusy: a run another Run steps cannot be resumed
// until its lease is released or expires; nothing is written meanwhile.
func TestResumeOfALeasedRunIsBusy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("3"))
	a := b.agent(t, m, nil)
	ctx := context.Background()
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	before, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.NotEmpty(t, before.Lease.Owner, "Start takes the lease")

	_, err = a.Resume(ctx, "run-1", nil)
	var busy *ratchet.RunBusyError
	require.ErrorAs(t, err, &busy)
	require.ErrorIs(t, err, ratchet.ErrRunBusy)
	require.Equal(t, before.Lease.Owner, busy.Owner)
	require.Equal(t, before.Lease.Expires, busy.Expires)
	after, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.Equal(t, before.LastSeq, after.LastSeq, "nothing written")

	// The holder goes on; once the run comes to rest the lease is free.
	out, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "3", out)
	info, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.Empty(t, info.Lease.Owner, "released at rest")
	r2, err := a.Resume(ctx, "run-1", nil)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusSucceeded, r2.Status())
}

// TestExpiredLeaseIsTakenOver: a Run that stopped stepping without Close
// loses the run to a resumer once its lease expires, and its next Step is
// refused with nothing written.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}),
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":3,"b":4}`}),
		ratchettest.Text("done"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.LeaseTTL = time.Minute })
	ctx := context.Background()
	first, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	_, err = first.Step(ctx)
	require.NoError(t, err)

	b.clock.Advance(59 * time.Second)
	_, err = a.Resume(ctx, "run-1", nil)
	require.ErrorIs(t, err, ratchet.ErrRunBusy, "not expired yet")

	b.clock.Advance(2 * time.Second)
	second, err := a.Resume(ctx, "run-1", nil)
	require.NoError(t, err, "an expired lease is taken over")
	seq := second.State().Seq

	_, err = first.Step(ctx)
	var busy *ratchet.RunBusyError
	require.ErrorAs(t, err, &busy)
	require.True(t, busy.Lost)
	info, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.Equal(t, seq, info.LastSeq, "the old holder wrote nothing")
	require.EqualValues(t, 1, m.Calls(), "the old holder did not call the model")

	out, err := second.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "done", out)
}

// TestLeaseRenewedWhileACallRuns: a call that outlasts the lease's TTL
// keeps the run busy for others, because the step renews the lease.
func TestLeaseRenewedWhileACallRuns(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	gate := make(chan struct{})
	st := store.NewMemory(nil)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "slow", Args: `{}`}), ratchettest.Text("ok"))
	a, err := ratchet.NewAgent(ratchet.Config{Name: "renew", Model: m, Store: st, LeaseTTL: 150 * time.Millisecond,
		Tools: []ratchet.Tool{gateTool("slow", &calls, gate)}})
	require.NoError(t, err)
	ctx := context.Background()
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	done := stepAsync(ctx, run)
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	deadline := time.Now().Add(600 * time.Millisecond) // four TTLs
	for time.Now().Before(deadline) {
		_, err := a.Resume(ctx, run.ID(), nil)
		require.ErrorIs(t, err, ratchet.ErrRunBusy)
		time.Sleep(20 * time.Millisecond)
	}
	close(gate)
	res := <-done
	require.NoError(t, res.err)
	out, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.EqualValues(t, 1, calls.Load())
}

// TestCancelWhileACallRunsKeepsItsResult: an operator's CancelRun appends
// without the lease while the holder's call runs; the call's real result
// still goes in the log (after run_cancelled), never an unknown outcome,
// and the holder's step stops.
func TestCancelWhileACallRunsKeepsItsResult(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var calls atomic.Int64
	gate := make(chan struct{})
	b.tools = append(b.tools, gateTool("refund", &calls, gate))
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "refund", Args: `{}`}), ratchettest.Text("never"))
	a := b.agent(t, m, nil)
	ctx := context.Background()
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	done := stepAsync(ctx, run)
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)

	_, err = ratchet.CancelRun(ctx, b.store, b.clock, "run-1", "operator")
	require.NoError(t, err)
	close(gate)
	res := <-done
	require.Error(t, res.err)
	require.False(t, errors.Is(res.err, ratchet.ErrRunBroken), "the result was merged: %v", res.err)

	recs := logOf(t, b.store, "run-1")
	require.Equal(t, []ratchet.RecordKind{ratchet.RecRunStarted, ratchet.RecModelResponded, ratchet.RecToolStarted,
		ratchet.RecRunCancelled, ratchet.RecToolFinished}, kindsOf(recs))
	fin := ofKind(recs, ratchet.RecToolFinished)[0]
	require.Equal(t, "refund done", fin.Result.Content)
	require.False(t, fin.Result.IsError)
	st, err := ratchet.LoadState(ctx, b.store, "run-1")
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusCancelled, st.Status)
	require.EqualValues(t, 1, m.Calls(), "the cancelled run asks the model nothing more")
	info, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.Empty(t, info.Lease.Owner, "released once cancelled")
}

// TestStartAndResumeValidateIDs: a bad run ID is refused before the store
// is asked, with an error of bounded length.
func TestStartAndResumeValidateIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.agent(t, ratchettest.NewModel(t), nil)
	ctx := context.Background()
	long := string(make([]byte, 10<<20))
	for _, id := range []string{"../x", ".hidden", "a/b", long} {
		_, err := a.Resume(ctx, id, nil)
		require.ErrorIs(t, err, store.ErrInvalidID)
		require.Less(t, len(err.Error()), 1024)
		_, err = a.Start(ctx, "go", &ratchet.RunOptions{ID: id})
		require.ErrorIs(t, err, store.ErrInvalidID)
		require.Less(t, len(err.Error()), 1024)
	}
}
