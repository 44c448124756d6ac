// Package storetest is a conformance suite for implementations of
// store.Store, in the manner of testing/slogtest and gocloud's drivertest.
//
// An implementation's test calls Run with a function that returns a new,
// empty store for each subtest (here, a store.Store that is also a
// store.Leaser and a store.Deleter):
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mystore.Open(t.TempDir())
//			require.NoError(t, err)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite checks the contract documented on store.Store: sequences,
// optimistic concurrency (ErrConflict with nothing written), the run index
// and List's filters and order, the sentinel errors of every method
// (ErrNotFound, ErrInvalidID, ErrExists, ErrTooLarge), byte-slice
// ownership, time normalisation to UTC, context cancellation and concurrent
// use. For a store.Leaser it checks leases and fencing (ErrLeased, tokens,
// takeover); for a store without leases, that every non-zero Batch.Fence is
// refused. For a store.Deleter it checks deletion (a deleted run gone from
// every method, its ID free again). The cases of an interface the store
// lacks are skipped, and Run logs which. Subtests run in parallel, each on
// its own store.
package storetest
