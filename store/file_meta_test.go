package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// metaCases are Metas whose JSON needs care: escapes, zones, fractions of
// seconds, floats at the edges of their decimal forms, extreme integers.
func metaCases() []store.Meta {
	utc := time.Date(2026, 11, 24, 7, 51, 4, 123456789, time.UTC)
	fixed := time.FixedZone("x", -5*3600-30*60)
	return []store.Meta{
		{},
		{Status: "running", UpdatedAt: utc},
		{Status: "waiting", UpdatedAt: utc.Truncate(time.Second).In(fixed), WakeAt: utc.Add(time.Hour).In(fixed), SnapshotSeq: math.MaxUint64},
		{Status: "succeeded", UpdatedAt: utc, Totals: store.Totals{Steps: 5, InputTokens: math.MaxInt64, OutputTokens: math.MinInt64, ToolCalls: 4, CostUSD: 0.1 + 0.2}},
		{Status: "x", Totals: store.Totals{CostUSD: 1e-7}},
		{Status: "x", Totals: store.Totals{CostUSD: 1e21}},
		{Status: "x", Totals: store.Totals{CostUSD: -math.MaxFloat64}},
		{Status: "x", Totals: store.Totals{CostUSD: math.SmallestNonzeroFloat64}},
		{Status: "x", Totals: store.Totals{CostUSD: math.Copysign(0, -1)}},
		{Status: "needs <escaping> & \"quotes\"\n\\ \u2028", UpdatedAt: utc},
		{Status: "ünïcode 日本 🎉", UpdatedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{Status: "x", UpdatedAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

// TestFileMetaRoundTrips appends each of metaCases to its own run of a
// real File store and reads the index back: live, after a restart from the
// checkpoint, and after a restart that scans the whole log (the Meta of
// every append is encoded in the log with encoding/json and decoded from
// it at open).
func TestFileMetaRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *store.File {
		f, err := store.NewFile(dir, nil)
		require.NoError(t, err)
		return f
	}
	want := map[string]store.Meta{}
	f := open()
	for i, m := range metaCases() {
		id := fmt.Sprint("run-", i)
		require.NoError(t, f.Create(ctx, store.RunInfo{ID: id, Agent: "a"}, [][]byte{[]byte("r1")}))
		require.NoError(t, f.Append(ctx, store.Batch{RunID: id, Expected: 1, Records: [][]byte{[]byte("r2")}, Meta: m}))
		m.UpdatedAt, m.WakeAt = m.UpdatedAt.UTC(), m.WakeAt.UTC()
		want[id] = m
	}
	check := func(f *store.File, how string) {
		t.Helper()
		for id, m := range want {
			info, err := f.Get(ctx, id)
			require.NoError(t, err)
			require.Equal(t, m, info.Meta, "%s: %s", how, id)
			require.Equal(t, uint64(2), info.LastSeq)
		}
	}
	check(f, "live")
	require.NoError(t, f.Close())
	f = open()
	check(f, "from the checkpoint")
	require.NoError(t, f.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, store.FileIndexName)))
	f = open()
	defer f.Close()
	check(f, "from the log")
}

// TestFileAppendRejectsMetaWithoutJSON: a Meta that has no JSON form (a
// cost that is not a finite number, a year JSON times cannot hold) fails
// the append with encoding/json's typed error, and the run loses nothing.
func TestFileAppendRejectsMetaWithoutJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, err := store.NewFile(t.TempDir(), nil)
	require.NoError(t, err)
	defer f.Close()
	good := store.Meta{Status: "running", UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "run", Agent: "a", Meta: good}, [][]byte{[]byte("r1")}))
	before, err := f.Get(ctx, "run")
	require.NoError(t, err)
	for _, bad := range []store.Meta{
		{Status: "running", Totals: store.Totals{CostUSD: math.NaN()}},
		{Status: "running", Totals: store.Totals{CostUSD: math.Inf(1)}},
		{Status: "running", Totals: store.Totals{CostUSD: math.Inf(-1)}},
		{Status: "running", UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Status: "running", WakeAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		err := f.Append(ctx, store.Batch{RunID: "run", Expected: 1, Records: [][]byte{[]byte("lost?")}, Meta: bad})
		require.Error(t, err, "%+v", bad)
		var uv *json.UnsupportedValueError
		var me *json.MarshalerError
		require.True(t, errors.As(err, &uv) || errors.As(err, &me), "%+v: %v (%T)", bad, err, err)
		require.Contains(t, err.Error(), `store: append to "run"`)
		after, err := f.Get(ctx, "run")
		require.NoError(t, err)
		require.Equal(t, before, after)
		require.Equal(t, []string{"r1"}, records(t, f, "run"))
	}
	require.NoError(t, f.Append(ctx, store.Batch{RunID: "run", Expected: 1, Records: [][]byte{[]byte("r2")}, Meta: good}))
	require.Equal(t, []string{"r1", "r2"}, records(t, f, "run"))
}
