package ratchet_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// TestEncodeRecordMatchesEncodingJSON is a differential test: the hand
// encoder and encoding/json decode to the same record, for every record of
// many scripted runs and for awkward strings.
func TestEncodeRecordMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var recs []*ratchet.Record
	for seed := uint64(0); seed < 50; seed++ {
		st := store.NewMemory()
		var c counter
		_, err := newScriptAgent(t, st, genScript(seed).model(t), &c, 5).Run(ctx, "go", nil)
		require.NoError(t, err)
		srs, err := st.Read(ctx, "run", 1)
		require.NoError(t, err)
		for _, sr := range srs {
			r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
			require.NoError(t, err)
			recs = append(recs, r)
		}
	}
	for _, s := range []string{"", "plain", "quote\" back\\ slash", "\x00\x01\x1f ctl \n\r\t", "é ü 日本 🎉", "bad \xff utf8 \xc3", "<html>&amp;", "\u2028\u2029"} {
		recs = append(recs, &ratchet.Record{
			Version: 1, Kind: ratchet.RecToolFinished, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), Step: 3, Active: 5,
			Call:   &ratchet.CallRecord{Index: 1, ID: s, Tool: s, Key: s, Attempt: 2},
			Result: &ratchet.ToolResult{Content: s, IsError: true, Error: s, Duration: 7},
			Error:  &ratchet.ErrorInfo{Kind: s, Message: s},
		}, &ratchet.Record{
			Version: 1, Kind: ratchet.RecModelResponded, Step: 1, Attempt: 3, CostUSD: 0.125, Repair: true,
			Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: s, Refusal: s, Name: s, IsError: true,
				ToolCalls: []ratchet.ToolCall{{ID: s, Name: s, Arguments: s}}},
				Usage: ratchet.Usage{CachedInputTokens: 3, ReasoningTokens: 4}, FinishReason: ratchet.FinishLength, Model: s},
		}, &ratchet.Record{Version: 1, Kind: ratchet.RecRepair, Message: &ratchet.Message{Role: ratchet.RoleUser, Content: s}, Summary: s, SummaryUpTo: 3, Output: s, Delay: time.Second})
	}
	for _, r := range recs {
		hand, err := ratchet.EncodeRecord(r)
		require.NoError(t, err)
		require.True(t, json.Valid(hand), "%s", hand)
		std, err := json.Marshal(r)
		require.NoError(t, err)
		var a, b map[string]any
		require.NoError(t, json.Unmarshal(hand, &a))
		require.NoError(t, json.Unmarshal(std, &b))
		require.Equal(t, b, a, "hand: %s\nstd:  %s", hand, std)
	}
}
