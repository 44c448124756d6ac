package store

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func checkMeta(t *testing.T, m Meta) {
	t.Helper()
	want, werr := json.Marshal(&m)
	got, gerr := marshalMeta(&m)
	if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("meta %+v:\n got %s (%v)\nwant %s (%v)", m, got, gerr, want, werr)
	}
}

// marshalMeta writes exactly json.Marshal's bytes: the log's frames and
// the golden store files do not change with it.
func TestMarshalMetaMatchesEncodingJSON(t *testing.T) {
	utc := time.Date(2026, 11, 24, 7, 51, 4, 123456789, time.UTC)
	fixed := time.FixedZone("x", -5*3600-30*60)
	cases := []Meta{
		{},
		{Status: "running", UpdatedAt: utc},
		{Status: "waiting", UpdatedAt: utc.Truncate(time.Second), WakeAt: utc.Add(time.Hour).In(fixed), SnapshotSeq: 256},
		{Status: "succeeded", UpdatedAt: utc, Totals: Totals{Steps: 5, InputTokens: 1 << 40, OutputTokens: -3, ToolCalls: 4, CostUSD: 0.000125}},
		{Status: "x", Totals: Totals{CostUSD: 1e-7}},
		{Status: "x", Totals: Totals{CostUSD: 1e21}},
		{Status: "x", Totals: Totals{CostUSD: 123456.789}},
		{Status: "x", Totals: Totals{CostUSD: math.Copysign(0, -1)}},
		{Status: "x", Totals: Totals{CostUSD: math.NaN()}},
		{Status: "x", Totals: Totals{CostUSD: math.Inf(1)}},
		{Status: "needs <escaping> & \"quotes\"\n", UpdatedAt: utc},
		{Status: "ünïcode", UpdatedAt: utc},
		{Status: "x", UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Status: "x", UpdatedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, m := range cases {
		checkMeta(t, m)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		m := Meta{
			Status:      []string{"running", "paused", "", "a_b-c.9"}[rng.IntN(4)],
			UpdatedAt:   time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).UTC(),
			SnapshotSeq: uint64(rng.IntN(3)) * rng.Uint64N(1e6),
			Totals: Totals{Steps: rng.Int64N(3), InputTokens: rng.Int64(), ToolCalls: rng.Int64N(2),
				CostUSD: float64(rng.IntN(2)) * math.Ldexp(rng.Float64(), rng.IntN(160)-80)},
		}
		if rng.IntN(2) == 0 {
			m.WakeAt = m.UpdatedAt.Add(time.Duration(rng.Int64N(1e15)))
		}
		checkMeta(t, m)
	}
}

func FuzzMarshalMeta(f *testing.F) {
	f.Add("running", int64(1700000000), int64(5), uint64(0), int64(3), 0.5)
	f.Fuzz(func(t *testing.T, status string, sec, nsec int64, snap uint64, steps int64, cost float64) {
		checkMeta(t, Meta{Status: status, UpdatedAt: time.Unix(sec, nsec).UTC(), SnapshotSeq: snap,
			Totals: Totals{Steps: steps, CostUSD: cost}})
	})
}
