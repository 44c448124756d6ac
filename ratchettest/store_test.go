package ratchettest_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
	"github.com/ratchet-run/ratchet/store/storetest"
)

// Partial stores over a Memory.
type (
	leaseOnly struct {
		store.Store
		store.Leaser
	}
	deleteOnly struct {
		store.Store
		store.Deleter
	}
)

// partial returns a Memory store with only the optional interfaces asked
// for.
func partial(leases, deletes bool) store.Store {
	m := store.NewMemory(nil)
	basic := ratchettest.BasicStore(m)
	switch {
	case leases && deletes:
		return m
	case leases:
		return leaseOnly{basic, m}
	case deletes:
		return deleteOnly{basic, m}
	default:
		return basic
	}
}

// TestFaultStoreOptionalInterfaces: the store a FaultStore hands out is a
// store.Leaser exactly when the inner store is one, and a store.Deleter
// exactly when the inner store is one; write faults reach the lease
// methods and Delete it forwards.
func TestFaultStoreOptionalInterfaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name            string
		leases, deletes bool
	}{{"full", true, true}, {"leases", true, false}, {"deletes", false, true}, {"basic", false, false}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inner := partial(c.leases, c.deletes)
			fst := ratchettest.NewFaultStore(inner)
			st := fst.Store()
			require.Same(t, st, fst.Store(), "always the same store")
			ls, isLeaser := st.(store.Leaser)
			del, isDeleter := st.(store.Deleter)
			require.Equal(t, c.leases, isLeaser, "Leaser")
			require.Equal(t, c.deletes, isDeleter, "Deleter")
			require.Equal(t, inner, fst.Inner())

			require.NoError(t, st.Create(ctx, store.RunInfo{ID: "r"}, [][]byte{[]byte("a")}))
			fst.FailWrites(ratchettest.ErrDiskFull())
			require.ErrorIs(t, st.Append(ctx, store.Batch{RunID: "r", Expected: 1}), syscall.ENOSPC)
			if isLeaser {
				_, err := ls.AcquireLease(ctx, "r", "o", time.Unix(0, 0), time.Unix(60, 0))
				require.ErrorIs(t, err, syscall.ENOSPC)
				require.Zero(t, get(t, inner, "r").Lease, "not passed on")
			}
			if isDeleter {
				require.ErrorIs(t, del.Delete(ctx, "r"), syscall.ENOSPC)
				get(t, inner, "r") // not passed on
			}
			fst.FailWrites(nil)
			if isLeaser {
				l, err := ls.AcquireLease(ctx, "r", "o", time.Unix(0, 0), time.Unix(60, 0))
				require.NoError(t, err)
				require.NoError(t, ls.ReleaseLease(ctx, "r", l))
			}
			if isDeleter {
				require.NoError(t, del.Delete(ctx, "r"))
				_, err := inner.Get(ctx, "r")
				require.ErrorIs(t, err, store.ErrNotFound)
			}
		})
	}
}

// TestFaultStoreConformance: with no faults set, the store a FaultStore
// hands out passes the conformance suite, over a full store and over a
// basic one.
func TestFaultStoreConformance(t *testing.T) {
	t.Parallel()
	t.Run("full", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return ratchettest.NewFaultStore(store.NewMemory(nil)).Store() })
	})
	t.Run("basic", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return ratchettest.NewFaultStore(ratchettest.BasicStore(store.NewMemory(nil))).Store()
		})
	})
}

// get returns run id's index entry in st.
func get(t *testing.T, st store.Store, id string) store.RunInfo {
	t.Helper()
	info, err := st.Get(context.Background(), id)
	require.NoError(t, err)
	return info
}
