package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
	"github.com/ratchet-run/ratchet/store/storetest"
)

func TestFileConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, t.TempDir(), nil)
	})
}

func TestFileConformanceSmallLimit(t *testing.T) {
	t.Parallel()
	storetest.RunWithOptions(t, func(t *testing.T) store.Store {
		return openFile(t, t.TempDir(), &store.FileOptions{MaxRecordSize: 1000})
	}, &storetest.Options{MaxRecordSize: 1000})
}

// openFile opens a File store in dir that the test closes when done.
func openFile(t testing.TB, dir string, opts *store.FileOptions) *store.File {
	t.Helper()
	f, err := store.NewFile(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}
