package ratchet_test

import (
	"context"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
	"github.com/stretchr/testify/require"
)

func TestRunCancelledFold(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a := b.agent(t, ratchettest.NewModel(t), nil)
	r, err := a.Start(ctx, "hi", nil)
	require.NoError(t, err)

	rec := &ratchet.Record{Version: ratchet.FormatVersion, Kind: ratchet.RecRunCancelled,
		Time: b.clock.Now(), Error: &ratchet.ErrorInfo{Kind: "cancelled", Message: "operator said so"}}
	data, err := ratchet.EncodeRecord(rec)
	require.NoError(t, err)
	require.NoError(t, b.store.Append(ctx, store.Batch{RunID: r.ID(), Expected: 1, Records: [][]byte{data},
		Meta: store.Meta{Status: string(ratchet.StatusCancelled)}}))

	st, err := ratchet.LoadState(ctx, b.store, r.ID())
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusCancelled, st.Status)
	require.Equal(t, "operator said so", st.Error.Message)
	require.True(t, st.Status.Ended())

	r2, err := a.Resume(ctx, r.ID(), nil)
	require.NoError(t, err)
	_, err = r2.Step(ctx)
	require.ErrorIs(t, err, ratchet.ErrRunEnded)

	// A cancellation cannot follow the end of a run.
	rec.Seq = st.Seq + 1
	require.Error(t, st.Apply(rec))
	rec2, err := ratchet.DecodeRecord(2, data)
	require.NoError(t, err)
	require.Equal(t, `run_cancelled error=cancelled "operator said so"`, rec2.String())
}

// TestUsageRecord: a usage record adds its spend to the run's totals (and
// nothing to its history), and round-trips through the encoding.
func TestUsageRecord(t *testing.T) {
	t.Parallel()
	var s ratchet.State
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.Apply(&ratchet.Record{Version: 1, Seq: 1, Kind: ratchet.RecRunStarted, Time: t0, Agent: "a",
		Input: []ratchet.Message{{Role: ratchet.RoleUser, Content: "go"}}}))
	rec := &ratchet.Record{Version: 1, Kind: ratchet.RecUsage, Time: t0, Step: 0,
		Response: &ratchet.Response{Usage: ratchet.Usage{InputTokens: 10, OutputTokens: 5}, Model: "m"}, CostUSD: 0.25}
	data, err := ratchet.EncodeRecord(rec)
	require.NoError(t, err)
	back, err := ratchet.DecodeRecord(2, data)
	require.NoError(t, err)
	require.NoError(t, s.Apply(back))
	require.Equal(t, ratchet.Usage{InputTokens: 10, OutputTokens: 5}, s.Usage)
	require.InDelta(t, 0.25, s.CostUSD, 1e-12)
	require.Len(t, s.Messages, 1)
	require.Equal(t, ratchet.StatusRunning, s.Status)
	require.Error(t, s.Apply(&ratchet.Record{Version: 1, Seq: 3, Kind: ratchet.RecUsage}))
}
