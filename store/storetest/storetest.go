package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// Options tunes the suite to the store under test. The zero value (or a nil
// *Options) fits the stores in package store with their default options.
type Options struct {
	// MaxRecordSize is the store's record size limit: a record of this many
	// bytes must be accepted and one byte more must get store.ErrTooLarge.
	// Defaults to store.MaxRecordSizeDefault. A negative value skips the
	// check.
	MaxRecordSize int
}

// Run runs the conformance suite against the stores newStore returns, with
// the default Options. newStore is called once per subtest (from that
// subtest's goroutine, possibly in parallel with other calls) and must
// return a new, empty store; it should register any cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	RunWithOptions(t, newStore, nil)
}

// RunWithOptions is Run with options; nil opts means the defaults.
func RunWithOptions(t *testing.T, newStore func(t *testing.T) store.Store, opts *Options) {
	t.Helper()
	o := Options{MaxRecordSize: store.MaxRecordSizeDefault}
	if opts != nil && opts.MaxRecordSize != 0 {
		o.MaxRecordSize = opts.MaxRecordSize
	}
	s := &suite{newStore: newStore, opts: o}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"CreateGet", s.testCreateGet},
		{"CreateExists", s.testCreateExists},
		{"CreateWithoutRecords", s.testCreateWithoutRecords},
		{"ReadRanges", s.testReadRanges},
		{"AppendSequences", s.testAppendSequences},
		{"AppendReplacesMeta", s.testAppendReplacesMeta},
		{"AppendEmptyRecords", s.testAppendEmptyRecords},
		{"AppendConflict", s.testAppendConflict},
		{"EmptyAndBinaryRecords", s.testEmptyAndBinaryRecords},
		{"NotFound", s.testNotFound},
		{"InvalidID", s.testInvalidID},
		{"TooLarge", s.testTooLarge},
		{"Aliasing", s.testAliasing},
		{"CancelledContext", s.testCancelledContext},
		{"LeaseAcquire", s.testLeaseAcquire},
		{"LeaseRenewRelease", s.testLeaseRenewRelease},
		{"Fence", s.testFence},
		{"ListOrder", s.testListOrder},
		{"ListFilters", s.testListFilters},
		{"ListSeesAppends", s.testListSeesAppends},
		{"ConcurrentSameExpected", s.testConcurrentSameExpected},
		{"ConcurrentRetryLoops", s.testConcurrentRetryLoops},
		{"ConcurrentRuns", s.testConcurrentRuns},
		{"Delete", s.testDelete},
		{"DeleteErrors", s.testDeleteErrors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
}

// suite holds the suite's inputs; its methods are the subtests.
type suite struct {
	newStore func(t *testing.T) store.Store
	opts     Options
}

// zone is a fixed non-UTC zone: the suite passes times in it and expects
// them back in UTC.
var zone = time.FixedZone("UTC+2", 2*60*60)

// t0 is the suite's reference time.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, zone)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// info returns a RunInfo for a new run.
func info(id string) store.RunInfo {
	return store.RunInfo{
		ID:        id,
		Agent:     "agent",
		Labels:    map[string]string{"team": "core"},
		CreatedAt: t0,
		Meta:      store.Meta{Status: "pending", UpdatedAt: t0},
	}
}

// recs returns n records named prefix-1 ... prefix-n.
func recs(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%d", prefix, i+1)
	}
	return out
}

// create creates a run with info(id) and records, failing the test on error.
func create(t *testing.T, s store.Store, id string, records [][]byte) {
	t.Helper()
	require.NoError(t, s.Create(context.Background(), info(id), records))
}

// get returns the run's index entry, failing the test on error.
func get(t *testing.T, s store.Store, id string) store.RunInfo {
	t.Helper()
	ri, err := s.Get(context.Background(), id)
	require.NoError(t, err)
	return ri
}

// readAll returns the run's records from 1 as strings, failing the test on
// error, and checks that their sequences are 1..n.
func readAll(t *testing.T, s store.Store, id string) []string {
	t.Helper()
	return readFrom(t, s, id, 1)
}

// readFrom returns the run's records from from as strings, failing the test
// on error, and checks that their sequences count up from from.
func readFrom(t *testing.T, s store.Store, id string, from uint64) []string {
	t.Helper()
	rs, err := s.Read(context.Background(), id, from)
	require.NoError(t, err)
	out := make([]string, len(rs))
	for i, r := range rs {
		require.Equal(t, max(from, 1)+uint64(i), r.Seq, "record %d", i)
		out[i] = string(r.Data)
	}
	return out
}

// strs returns records as strings.
func strs(records [][]byte) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = string(r)
	}
	return out
}

// utc returns info as a store returns it: times in UTC.
func utc(info store.RunInfo) store.RunInfo {
	info.CreatedAt = info.CreatedAt.UTC()
	info.UpdatedAt = info.UpdatedAt.UTC()
	info.WakeAt = info.WakeAt.UTC()
	info.Lease.Expires = info.Lease.Expires.UTC()
	return info
}

// badIDs returns run IDs every method must reject with store.ErrInvalidID.
func badIDs() []string {
	return []string{
		"", ".", "..", "../x", "a/b", "/abs", `a\b`, "x\x00y", "-flag", ".hidden",
		"sp ace", "é", strings.Repeat("a", store.MaxIDLen+1),
	}
}
