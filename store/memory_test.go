package store_test

import (
	"testing"

	"github.com/ratchet-run/ratchet/store"
	"github.com/ratchet-run/ratchet/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory(nil) })
}

func TestMemoryConformanceSmallLimit(t *testing.T) {
	t.Parallel()
	storetest.RunWithOptions(t, func(t *testing.T) store.Store {
		return store.NewMemory(&store.MemoryOptions{MaxRecordSize: 1000})
	}, &storetest.Options{MaxRecordSize: 1000})
}
