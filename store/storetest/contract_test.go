package storetest_test

import (
	"testing"

	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
	"github.com/ratchet-run/ratchet/store/storetest"
)

// leaseOnly is a store with leases that cannot delete.
type leaseOnly struct {
	store.Store
	store.Leaser
}

// deleteOnly is a store that can delete but has no leases.
type deleteOnly struct {
	store.Store
	store.Deleter
}

// TestRunAdaptsToOptionalInterfaces runs the suite against stores with
// every combination of the optional interfaces: the smallest store the
// contract allows (the five methods of Memory, nothing more), one with
// leases only and one with deletes only. Each passes: the suite runs only
// the cases of the interfaces the store has, and checks that a store
// without leases refuses fenced appends.
func TestRunAdaptsToOptionalInterfaces(t *testing.T) {
	t.Parallel()
	for name, newStore := range map[string]func(t *testing.T) store.Store{
		"basic": func(t *testing.T) store.Store { return ratchettest.BasicStore(store.NewMemory(nil)) },
		"lease-only": func(t *testing.T) store.Store {
			m := store.NewMemory(nil)
			return leaseOnly{ratchettest.BasicStore(m), m}
		},
		"delete-only": func(t *testing.T) store.Store {
			m := store.NewMemory(nil)
			return deleteOnly{ratchettest.BasicStore(m), m}
		},
		"basic-file": func(t *testing.T) store.Store {
			f, err := store.NewFile(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = f.Close() })
			return ratchettest.BasicStore(f)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, newStore)
		})
	}
}
