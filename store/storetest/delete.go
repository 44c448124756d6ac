package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// testDelete: a deleted run is gone from every method, other runs are not
// touched, and its ID can be created again, from scratch.
func (s *suite) testDelete(t *testing.T) {
	st, d := s.deleteStore(t)
	ctx := context.Background()
	create(t, st, "keep", recs("k", 2))
	create(t, st, "gone", recs("c", 2))
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "gone", Expected: 2, Records: recs("a", 3), Meta: store.Meta{Status: "succeeded", UpdatedAt: at(time.Second)}}))

	require.NoError(t, d.Delete(ctx, "gone"))
	_, err := st.Get(ctx, "gone")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Read(ctx, "gone", 1)
	require.ErrorIs(t, err, store.ErrNotFound)
	err = st.Append(ctx, store.Batch{RunID: "gone", Expected: 5, Records: recs("x", 1)})
	require.ErrorIs(t, err, store.ErrNotFound, "a writer of the deleted run finds it gone")
	require.ErrorIs(t, d.Delete(ctx, "gone"), store.ErrNotFound, "deleted once")
	require.Equal(t, []string{"keep"}, list(t, st, store.Query{}))
	require.Empty(t, list(t, st, store.Query{Statuses: []string{"succeeded"}}))
	require.Equal(t, []string{"k-1", "k-2"}, readAll(t, st, "keep"))

	// The ID is free again: a new run, nothing of the old one.
	create(t, st, "gone", recs("n", 1))
	require.Equal(t, []string{"n-1"}, readAll(t, st, "gone"))
	ri := get(t, st, "gone")
	require.Equal(t, uint64(1), ri.LastSeq)
	require.Equal(t, "pending", ri.Status)
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "gone", Expected: 1, Records: recs("m", 1)}))
	require.Equal(t, []string{"n-1", "m-1"}, readAll(t, st, "gone"))
	require.ElementsMatch(t, []string{"keep", "gone"}, list(t, st, store.Query{}))
}

// testDeleteLeased: deleting a leased run takes its lease with it: the
// holder's fenced appends and lease calls find the run gone, and a run
// created again under the ID starts without a lease.
func (s *suite) testDeleteLeased(t *testing.T) {
	st, d := s.deleteStore(t)
	ls := st.(store.Leaser)
	ctx := context.Background()
	create(t, st, "gone", recs("c", 2))
	l, err := ls.AcquireLease(ctx, "gone", "w", t0, at(time.Minute))
	require.NoError(t, err)

	require.NoError(t, d.Delete(ctx, "gone"))
	err = st.Append(ctx, store.Batch{RunID: "gone", Expected: 2, Records: recs("x", 1), Fence: l.Token})
	require.ErrorIs(t, err, store.ErrNotFound, "a fenced writer of the deleted run finds it gone")
	_, err = ls.AcquireLease(ctx, "gone", "w", t0, at(time.Minute))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = ls.RenewLease(ctx, "gone", l, at(time.Minute))
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, ls.ReleaseLease(ctx, "gone", l), store.ErrNotFound)

	create(t, st, "gone", recs("n", 1))
	require.Zero(t, get(t, st, "gone").Lease, "the new run has no lease of the old one")
	l2, err := ls.AcquireLease(ctx, "gone", "v", t0, at(time.Minute))
	require.NoError(t, err)
	require.Equal(t, "v", l2.Owner)
}

// testDeleteErrors: unknown runs, bad IDs and cancelled contexts.
func (s *suite) testDeleteErrors(t *testing.T) {
	st, d := s.deleteStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 1))
	require.ErrorIs(t, d.Delete(ctx, "missing"), store.ErrNotFound)
	for _, id := range badIDs() {
		require.ErrorIs(t, d.Delete(ctx, id), store.ErrInvalidID, "Delete(%q)", id)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := d.Delete(cctx, "run-1")
	require.ErrorIs(t, err, context.Canceled)
	if _, gerr := st.Get(ctx, "run-1"); gerr == nil {
		require.Equal(t, []string{"c-1"}, readAll(t, st, "run-1"), "deleted whole or not at all")
	}
}
