// Package storetest is a conformance suite for implementations of
// store.Store, in the manner of testing/slogtest and gocloud's drivertest.
//
// An implementation's test calls Run with a function that returns a new,
// empty store for each subtest:
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
// optimistic concurrency (ErrConflict with nothing written), fencing and
// leases, the run index and List's filters and order, the sentinel errors of
// every method (ErrNotFound, ErrInvalidID, ErrExists, ErrLeased,
// ErrTooLarge), deletion (a deleted run gone from every method, its ID
// free again), byte-slice ownership, time normalisation to UTC, context
// cancellation and concurrent use. Subtests run in parallel, each on its own
// store.
package storetest
