package ratchet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// TestSchedulerReloadsAfterOperatorCancel: an operator cancels (from
// another process, through the store) a run a scheduler is stepping. The
// scheduler's next append conflicts; it loads the run again, sees it
// cancelled, stops and releases its lease at once instead of holding it
// until it expires.
func TestSchedulerReloadsAfterOperatorCancel(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	ctx := context.Background()
	bt := newBlockTool()
	b.agent(t, "ops", toolThenAnswer(t, "block", `{"text":"x"}`), []ratchet.Tool{bt.tool()}, nil)
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "ops", "go", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bt.inFlight.Load() == 1 }, 10*time.Second, time.Millisecond)

	_, err = ratchet.CancelRun(ctx, b.store, b.clock, id, "not needed")
	require.NoError(t, err)
	close(bt.release) // the tool finishes; its result's append conflicts

	waitReleased(t, b.store, id)
	info := waitStatus(t, b.store, id, ratchet.StatusCancelled)
	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusCancelled, st.Status)
	require.Equal(t, info.LastSeq, st.Seq, "nothing was appended after the cancellation")
}

// TestSchedulerContinuesAfterOperatorRetry: a run paused by its budget is
// retried with a raised budget from outside; a running scheduler picks it
// up and finishes it.
func TestSchedulerContinuesAfterOperatorRetry(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	ctx := context.Background()
	a := b.agent(t, "retry", toolThenAnswer(t, "echo", `{"text":"hi"}`), []ratchet.Tool{echoTool()}, nil)
	run, err := a.Start(ctx, "go", &ratchet.RunOptions{Budget: &ratchet.Budget{MaxSteps: 1}})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)
	require.NoError(t, b.sched.Start(ctx)) // after the pause: the run is not due until retried

	_, err = ratchet.RetryRun(ctx, b.store, b.clock, run.ID(), &ratchet.Budget{MaxSteps: 10})
	require.NoError(t, err)
	b.clock.Advance(ratchet.PollIntervalDefault) // the scheduler's next poll finds it due
	waitStatus(t, b.store, run.ID(), ratchet.StatusSucceeded)
}
