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
//
// Run first calls newStore once with t itself, to see which optional
// interfaces the store implements: it runs the lease cases only when the
// store is a store.Leaser, the delete cases only when it is a
// store.Deleter, and logs (t.Log) the cases it skips. A store that is not a
// Leaser is checked to refuse every non-zero Batch.Fence instead. Every
// store newStore returns must implement the same interfaces.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	RunWithOptions(t, newStore, nil)
}

// needs are the optional interfaces a case needs.
type needs int

const (
	needLeaser needs = 1 << iota
	needDeleter
	// needNoLeaser marks the cases of a store without leases.
	needNoLeaser
)

// RunWithOptions is Run with options; nil opts means the defaults.
func RunWithOptions(t *testing.T, newStore func(t *testing.T) store.Store, opts *Options) {
	t.Helper()
	o := Options{MaxRecordSize: store.MaxRecordSizeDefault}
	if opts != nil && opts.MaxRecordSize != 0 {
		o.MaxRecordSize = opts.MaxRecordSize
	}
	probe := newStore(t)
	_, leaser := probe.(store.Leaser)
	_, deleter := probe.(store.Deleter)
	s := &suite{newStore: newStore, opts: o, leaser: leaser, deleter: deleter}
	tests := []struct {
		name  string
		fn    func(t *testing.T)
		needs needs
	}{
		{"CreateGet", s.testCreateGet, 0},
		{"CreateExists", s.testCreateExists, 0},
		{"CreateWithoutRecords", s.testCreateWithoutRecords, 0},
		{"ReadRanges", s.testReadRanges, 0},
		{"AppendSequences", s.testAppendSequences, 0},
		{"AppendReplacesMeta", s.testAppendReplacesMeta, 0},
		{"AppendEmptyRecords", s.testAppendEmptyRecords, 0},
		{"AppendConflict", s.testAppendConflict, 0},
		{"EmptyAndBinaryRecords", s.testEmptyAndBinaryRecords, 0},
		{"NotFound", s.testNotFound, 0},
		{"InvalidID", s.testInvalidID, 0},
		{"TooLarge", s.testTooLarge, 0},
		{"Aliasing", s.testAliasing, 0},
		{"CancelledContext", s.testCancelledContext, 0},
		{"FenceWithoutLeases", s.testFenceWithoutLeases, needNoLeaser},
		{"LeaseAcquire", s.testLeaseAcquire, needLeaser},
		{"LeaseRenewRelease", s.testLeaseRenewRelease, needLeaser},
		{"LeaseNotFound", s.testLeaseNotFound, needLeaser},
		{"LeaseInvalidID", s.testLeaseInvalidID, needLeaser},
		{"LeaseCancelledContext", s.testLeaseCancelledContext, needLeaser},
		{"Fence", s.testFence, needLeaser},
		{"ListOrder", s.testListOrder, 0},
		{"ListFilters", s.testListFilters, 0},
		{"ListSeesAppends", s.testListSeesAppends, 0},
		{"ListSeesLeases", s.testListSeesLeases, needLeaser},
		{"ConcurrentSameExpected", s.testConcurrentSameExpected, 0},
		{"ConcurrentRetryLoops", s.testConcurrentRetryLoops, 0},
		{"ConcurrentRuns", s.testConcurrentRuns, 0},
		{"Delete", s.testDelete, needDeleter},
		{"DeleteErrors", s.testDeleteErrors, needDeleter},
		{"DeleteLeased", s.testDeleteLeased, needLeaser | needDeleter},
	}
	var skipped []string
	for _, tt := range tests {
		if (tt.needs&needLeaser != 0 && !leaser) || (tt.needs&needDeleter != 0 && !deleter) || (tt.needs&needNoLeaser != 0 && leaser) {
			skipped = append(skipped, tt.name)
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
	if len(skipped) > 0 {
		t.Logf("storetest: the store (%T) is a store.Leaser: %v, a store.Deleter: %v; skipped %s",
			probe, leaser, deleter, strings.Join(skipped, ", "))
	}
}

// suite holds the suite's inputs; its methods are the subtests.
type suite struct {
	newStore func(t *testing.T) store.Store
	opts     Options
	// leaser and deleter say which optional interfaces the store has.
	leaser, deleter bool
}

// leaseStore returns a new store and its leases, failing the test if the
// store is not a store.Leaser (the first one newStore returned was).
func (s *suite) leaseStore(t *testing.T) (store.Store, store.Leaser) {
	t.Helper()
	st := s.newStore(t)
	ls, ok := st.(store.Leaser)
	if !ok {
		t.Fatalf("storetest: newStore returned a %T, which is not a store.Leaser, though its first store was", st)
	}
	return st, ls
}

// deleteStore returns a new store and its Delete, failing the test if the
// store is not a store.Deleter (the first one newStore returned was).
func (s *suite) deleteStore(t *testing.T) (store.Store, store.Deleter) {
	t.Helper()
	st := s.newStore(t)
	d, ok := st.(store.Deleter)
	if !ok {
		t.Fatalf("storetest: newStore returned a %T, which is not a store.Deleter, though its first store was", st)
	}
	return st, d
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
