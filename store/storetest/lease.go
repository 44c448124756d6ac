package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

func (s *suite) testLeaseAcquire(t *testing.T) {
	st, ls := s.leaseStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 1))
	require.Equal(t, store.Lease{}, get(t, st, "run-1").Lease, "never leased")

	_, err := ls.AcquireLease(ctx, "run-1", "", t0, at(time.Minute))
	require.ErrorIs(t, err, store.ErrInvalidID, "empty owner")

	l1, err := ls.AcquireLease(ctx, "run-1", "a", t0, at(time.Minute))
	require.NoError(t, err)
	require.Equal(t, store.Lease{Owner: "a", Token: 1, Expires: at(time.Minute).UTC()}, l1)
	require.Equal(t, l1, get(t, st, "run-1").Lease)

	// Another owner before expiry.
	_, err = ls.AcquireLease(ctx, "run-1", "b", at(59*time.Second), at(2*time.Minute))
	require.ErrorIs(t, err, store.ErrLeased)
	require.Equal(t, l1, get(t, st, "run-1").Lease, "unchanged")

	// The same owner again: same token, new expiry (even an earlier one).
	l1b, err := ls.AcquireLease(ctx, "run-1", "a", at(10*time.Second), at(30*time.Second))
	require.NoError(t, err)
	require.Equal(t, store.Lease{Owner: "a", Token: 1, Expires: at(30 * time.Second).UTC()}, l1b)

	// Another owner exactly at expiry takes it over with a greater token.
	l2, err := ls.AcquireLease(ctx, "run-1", "b", at(30*time.Second), at(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.Lease{Owner: "b", Token: 2, Expires: at(time.Hour).UTC()}, l2)
	require.Equal(t, l2, get(t, st, "run-1").Lease)

	// The old owner is now a new owner too.
	_, err = ls.AcquireLease(ctx, "run-1", "a", at(time.Minute), at(2*time.Hour))
	require.ErrorIs(t, err, store.ErrLeased)
	l3, err := ls.AcquireLease(ctx, "run-1", "a", at(2*time.Hour), at(3*time.Hour))
	require.NoError(t, err)
	require.Equal(t, uint64(3), l3.Token)

	// Leases are per run.
	create(t, st, "run-2", nil)
	l, err := ls.AcquireLease(ctx, "run-2", "b", t0, at(time.Minute))
	require.NoError(t, err)
	require.Equal(t, uint64(1), l.Token)
}

func (s *suite) testLeaseRenewRelease(t *testing.T) {
	st, ls := s.leaseStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 1))
	l1, err := ls.AcquireLease(ctx, "run-1", "a", t0, at(time.Minute))
	require.NoError(t, err)

	l1r, err := ls.RenewLease(ctx, "run-1", l1, at(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.Lease{Owner: "a", Token: 1, Expires: at(time.Hour).UTC()}, l1r)
	require.Equal(t, l1r, get(t, st, "run-1").Lease)
	// The old value still names the lease (same owner and token).
	_, err = ls.RenewLease(ctx, "run-1", l1, at(2*time.Hour))
	require.NoError(t, err)

	// Wrong owner or token.
	_, err = ls.RenewLease(ctx, "run-1", store.Lease{Owner: "b", Token: 1}, at(time.Hour))
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = ls.RenewLease(ctx, "run-1", store.Lease{Owner: "a", Token: 2}, at(time.Hour))
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorIs(t, ls.ReleaseLease(ctx, "run-1", store.Lease{Owner: "a", Token: 7}), store.ErrConflict)

	// Taken over after expiry: the old holder can neither renew nor release.
	l2, err := ls.AcquireLease(ctx, "run-1", "b", at(2*time.Hour), at(3*time.Hour))
	require.NoError(t, err)
	_, err = ls.RenewLease(ctx, "run-1", l1, at(4*time.Hour))
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorIs(t, ls.ReleaseLease(ctx, "run-1", l1), store.ErrConflict)
	require.Equal(t, l2, get(t, st, "run-1").Lease, "left as it is")

	// Release: the token stays, owner and expiry go.
	require.NoError(t, ls.ReleaseLease(ctx, "run-1", l2))
	require.Equal(t, store.Lease{Token: 2}, get(t, st, "run-1").Lease)
	require.ErrorIs(t, ls.ReleaseLease(ctx, "run-1", l2), store.ErrConflict, "released twice")
	_, err = ls.RenewLease(ctx, "run-1", l2, at(4*time.Hour))
	require.ErrorIs(t, err, store.ErrConflict, "renewed after release")

	// A released lease is free for anyone, before its old expiry, with a new token.
	l3, err := ls.AcquireLease(ctx, "run-1", "b", at(2*time.Hour), at(5*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.Lease{Owner: "b", Token: 3, Expires: at(5 * time.Hour).UTC()}, l3)

	// An expired lease nobody took over can still be renewed by its holder.
	l3r, err := ls.RenewLease(ctx, "run-1", l3, at(7*time.Hour))
	require.NoError(t, err)
	require.Equal(t, uint64(3), l3r.Token)
}

func (s *suite) testFence(t *testing.T) {
	st, ls := s.leaseStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 1))
	app := func(exp, fence uint64) error {
		return st.Append(ctx, store.Batch{RunID: "run-1", Expected: exp, Fence: fence, Records: recs("f", 1), Meta: store.Meta{Status: "fenced"}})
	}
	require.ErrorIs(t, app(1, 1), store.ErrConflict, "fence without a lease")
	l1, err := ls.AcquireLease(ctx, "run-1", "a", t0, at(time.Minute))
	require.NoError(t, err)
	require.NoError(t, app(1, l1.Token))
	require.NoError(t, app(2, 0), "no fence")
	require.ErrorIs(t, app(3, l1.Token+1), store.ErrConflict, "future token")

	// Expired but not taken over: the holder's token still fences in.
	require.NoError(t, app(3, l1.Token))

	l2, err := ls.AcquireLease(ctx, "run-1", "b", at(time.Hour), at(2*time.Hour))
	require.NoError(t, err)
	before := get(t, st, "run-1")
	require.ErrorIs(t, app(4, l1.Token), store.ErrConflict, "stale token")
	require.Equal(t, before, get(t, st, "run-1"), "nothing was written")
	require.Len(t, readAll(t, st, "run-1"), 4)
	require.NoError(t, app(4, l2.Token))

	// Both the sequence and the fence must be right.
	require.ErrorIs(t, app(4, l2.Token), store.ErrConflict)

	require.NoError(t, ls.ReleaseLease(ctx, "run-1", l2))
	require.ErrorIs(t, app(5, l2.Token), store.ErrConflict, "released")
	require.NoError(t, app(5, 0))
	require.Len(t, readAll(t, st, "run-1"), 6)
}

// testLeaseNotFound: the lease methods on an unknown run.
func (s *suite) testLeaseNotFound(t *testing.T) {
	st, ls := s.leaseStore(t)
	ctx := context.Background()
	create(t, st, "other", recs("c", 1))
	const id = "missing"
	_, err := ls.AcquireLease(ctx, id, "w", t0, at(time.Minute))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = ls.RenewLease(ctx, id, store.Lease{Owner: "w", Token: 1}, at(time.Minute))
	require.ErrorIs(t, err, store.ErrNotFound)
	err = ls.ReleaseLease(ctx, id, store.Lease{Owner: "w", Token: 1})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Get(ctx, id)
	require.ErrorIs(t, err, store.ErrNotFound, "no lease method created the run")
}

// testLeaseInvalidID: the lease methods reject bad run IDs.
func (s *suite) testLeaseInvalidID(t *testing.T) {
	_, ls := s.leaseStore(t)
	ctx := context.Background()
	for _, id := range badIDs() {
		_, err := ls.AcquireLease(ctx, id, "w", t0, at(time.Minute))
		require.ErrorIs(t, err, store.ErrInvalidID, "AcquireLease(%q)", id)
		_, err = ls.RenewLease(ctx, id, store.Lease{Owner: "w", Token: 1}, at(time.Minute))
		require.ErrorIs(t, err, store.ErrInvalidID, "RenewLease(%q)", id)
		require.ErrorIs(t, ls.ReleaseLease(ctx, id, store.Lease{Owner: "w", Token: 1}), store.ErrInvalidID, "ReleaseLease(%q)", id)
	}
}

// testLeaseCancelledContext: the lease methods return a done context's
// error.
func (s *suite) testLeaseCancelledContext(t *testing.T) {
	st, ls := s.leaseStore(t)
	create(t, st, "run-1", recs("c", 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ls.AcquireLease(ctx, "run-1", "w", t0, at(time.Minute))
	require.ErrorIs(t, err, context.Canceled)
	_, err = ls.RenewLease(ctx, "run-1", store.Lease{Owner: "w", Token: 1}, at(time.Minute))
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, ls.ReleaseLease(ctx, "run-1", store.Lease{Owner: "w", Token: 1}), context.Canceled)
}

// testFenceWithoutLeases: a store that is not a store.Leaser has no lease
// tokens, so it refuses every non-zero Fence (writing nothing) and every
// run's Lease is zero.
func (s *suite) testFenceWithoutLeases(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 1))
	before := get(t, st, "run-1")
	require.Zero(t, before.Lease)
	for _, fence := range []uint64{1, 2, 1 << 63} {
		err := st.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Fence: fence, Records: recs("f", 1), Meta: store.Meta{Status: "fenced"}})
		require.ErrorIs(t, err, store.ErrConflict, "fence %d", fence)
	}
	require.Equal(t, before, get(t, st, "run-1"), "nothing was written")
	require.Equal(t, []string{"c-1"}, readAll(t, st, "run-1"))
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Records: recs("a", 1), Meta: store.Meta{Status: "running"}}))
	require.Zero(t, get(t, st, "run-1").Lease)
}
