package ratchet_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
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
