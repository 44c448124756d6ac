package ratchet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestClassifyStoreError(t *testing.T) {
	t.Parallel()
	_, jsonErr := json.Marshal(math.NaN())
	broken := func(err error) error { return fmt.Errorf("%w: run r: %w", ratchet.ErrRunBroken, err) }
	for _, tc := range []struct {
		name string
		err  error
		want ratchet.StoreErrorKind
	}{
		{"nil", nil, ""},
		{"cancelled", context.Canceled, ""},
		{"conflict", broken(fmt.Errorf("%w: stale", store.ErrConflict)), ""},
		{"leased", store.ErrLeased, ""},
		{"not found", store.ErrNotFound, ""},
		{"exists", store.ErrExists, ""},
		{"ended", ratchet.ErrRunEnded, ""},
		{"disk full", broken(ratchettest.ErrDiskFull()), ratchet.StoreDiskFull},
		{"quota", &fs.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, ratchet.StoreDiskFull},
		{"eio", broken(ratchettest.ErrIO()), ratchet.StoreIO},
		{"unknown", errors.New("something odd"), ratchet.StoreIO},
		{"deadline", fmt.Errorf("store: lock: %w", context.DeadlineExceeded), ratchet.StoreTimeout},
		{"os deadline", os.ErrDeadlineExceeded, ratchet.StoreTimeout},
		{"eagain", syscall.EAGAIN, ratchet.StoreTimeout},
		{"timeout method", fmt.Errorf("dial: %w", timeoutErr{}), ratchet.StoreTimeout},
		{"busy", store.ErrBusy, ratchet.StoreTimeout},
		{"closed", store.ErrClosed, ratchet.StoreClosed},
		{"too large", broken(fmt.Errorf("%w: batch", store.ErrTooLarge)), ratchet.StoreTooLarge},
		{"corrupt store", store.ErrCorrupt, ratchet.StoreCorrupt},
		{"corrupt log", fmt.Errorf("%w: record 3", ratchet.ErrCorruptLog), ratchet.StoreCorrupt},
		{"invalid id", store.ErrInvalidID, ratchet.StoreEncoding},
		{"json", fmt.Errorf("ratchet: run r: encode x: %w", jsonErr), ratchet.StoreEncoding},
		{"newer format", ratchet.ErrUnsupportedFormat, ratchet.StoreUnsupportedFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, ratchet.ClassifyStoreError(tc.err))
		})
	}
	for k, transient := range map[ratchet.StoreErrorKind]bool{
		ratchet.StoreDiskFull: true, ratchet.StoreIO: true, ratchet.StoreTimeout: true, ratchet.StoreClosed: true,
		ratchet.StoreTooLarge: false, ratchet.StoreCorrupt: false, ratchet.StoreEncoding: false, ratchet.StoreUnsupportedFormat: false,
	} {
		require.Equal(t, transient, k.Transient(), k)
	}
	se := &ratchet.StoreError{Kind: ratchet.StoreDiskFull, Op: "append", RunID: "r", Failures: 2, Err: ratchettest.ErrDiskFull()}
	require.ErrorIs(t, se, syscall.ENOSPC)
	require.Contains(t, se.Error(), "disk_full")
}
