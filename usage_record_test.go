package ratchet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// TestUsageRecord: a usage record adds its spend to the run's totals (and
// nothing to its history), and round-trips through the encoding.
func TestUsageRecord(t *testing.T) {
	t.Parallel()
	var s ratchet.State
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.Apply(&ratchet.Record{Version: 1, Seq: 1, Kind: ratchet.RecRunStarted, Time: t0, Agent: "a",
		Input: []ratchet.Message{{Role: ratchet.RoleUser, Content: "go"}}}))
	rec := &ratchet.Record{Version: 1, Kind: ratchet.RecUsage, Time: t0, Step: 0,
		Response: &ratchet.Response{Usage: ratchet.Usage{InputTokens: 10, OutputTokens: 5}, Model: "m"}, CostUSD: 0.25}
	data, err := ratchet.EncodeRecord(rec)
	require.NoError(t, err)
	back, err := ratchet.DecodeRecord(2, data)
	require.NoError(t, err)
	require.NoError(t, s.Apply(back))
	require.Equal(t, ratchet.Usage{InputTokens: 10, OutputTokens: 5}, s.Usage)
	require.InDelta(t, 0.25, s.CostUSD, 1e-12)
	require.Len(t, s.Messages, 1)
	require.Equal(t, ratchet.StatusRunning, s.Status)
	require.Error(t, s.Apply(&ratchet.Record{Version: 1, Seq: 3, Kind: ratchet.RecUsage}))
}
