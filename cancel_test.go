package ratchet_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

func TestCancelDuringModelCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Reply{Delay: time.Hour, Response: ratchettest.Text("never").Response},
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := stepAsync(ctx, run)
	require.Eventually(t, func() bool { return m.Calls() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	res := <-ch
	require.ErrorIs(t, res.err, context.Canceled)
	require.Equal(t, ratchet.StatusRunning, run.Status())
	require.Equal(t, []ratchet.RecordKind{ratchet.RecRunStarted}, kindsOf(logOf(t, b.store, "run-1")))
	requireFolds(t, b.store, run)

	run2, err := a.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	out, err := run2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
}

func TestCancelDuringRetrySleep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 500}), ratchettest.Text("ok"))
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := stepAsync(ctx, run)
	require.True(t, b.clock.WaitForWaiters(1, 5*time.Second))
	cancel()
	res := <-ch
	require.ErrorIs(t, res.err, context.Canceled)
	require.Equal(t, []ratchet.RecordKind{ratchet.RecRunStarted, ratchet.RecModelFailed}, kindsOf(logOf(t, b.store, "run-1")))
	requireFolds(t, b.store, run)
	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
}

func TestCancelDuringTool(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var idem, other atomic.Int64
	gate := make(chan struct{})
	wait := func(n *atomic.Int64) func(ctx context.Context, in struct{}) (string, error) {
		return func(ctx context.Context, in struct{}) (string, error) {
			if n.Add(1) == 1 {
				<-ctx.Done()
				return "", ctx.Err()
			}
			<-gate
			return "done", nil
		}
	}
	b.tools = []ratchet.Tool{
		ratchet.NewTool("idem", "Idempotent.", wait(&idem), ratchet.Idempotent()),
		ratchet.NewTool("other", "Not idempotent.", wait(&other)),
	}
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "idem", Args: `{}`}, ratchettest.Call{Name: "other", Args: `{}`}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := stepAsync(ctx, run)
	require.Eventually(t, func() bool { return idem.Load() == 1 && other.Load() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	res := <-ch
	require.ErrorIs(t, res.err, context.Canceled)
	require.Equal(t, ratchet.StatusRunning, run.Status())
	recs := logOf(t, b.store, "run-1")
	require.Len(t, ofKind(recs, ratchet.RecToolStarted), 2)
	require.Empty(t, ofKind(recs, ratchet.RecToolFinished), "interrupted calls stay open")
	requireFolds(t, b.store, run)

	close(gate)
	run2, err := a.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	out, err := run2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Equal(t, 2, m.Calls(), "the persisted response was not asked for again")
	require.Equal(t, int64(2), idem.Load(), "the idempotent call ran again")
	require.Equal(t, int64(1), other.Load(), "the other call was not")
	msgs := m.Requests()[1].Messages
	assertWellFormed(t, msgs[1:])
	require.Equal(t, "done", msgs[3].Content)
	require.Contains(t, msgs[4].Content, "outcome of this call is unknown")
	requireFolds(t, b.store, run2)
}
