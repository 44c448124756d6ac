package ratchet_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// bigRun is a run of steps steps, each but the last asking for calls
// parallel calls of the idempotent tool "fetch", whose result is size
// bytes; the final answer counts the tool results the model saw.
type bigRun struct {
	steps, calls, size int
	mu                 sync.Mutex
	ran                map[string]int // idempotency key → runs
}

func (b *bigRun) model(t *testing.T) *ratchettest.Model {
	return ratchettest.NewModelFunc(t, func(_ context.Context, _ int, req *ratchet.Request) ratchettest.Reply {
		n, results, unknown := 0, 0, 0
		for _, m := range req.Messages {
			switch m.Role {
			case ratchet.RoleAssistant:
				n++
			case ratchet.RoleTool:
				results++
				if len(m.Content) != b.size || m.IsError {
					unknown++
				}
			}
		}
		if n == b.steps-1 {
			return ratchettest.Text(fmt.Sprintf("saw %d results, %d bad", results, unknown))
		}
		calls := make([]ratchet.ToolCall, b.calls)
		for i := range calls {
			calls[i] = ratchet.ToolCall{ID: fmt.Sprintf("c%d_%d", n, i), Name: "fetch", Arguments: `{"text":"x"}`}
		}
		return ratchettest.Reply{Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: calls},
			FinishReason: ratchet.FinishToolCalls, Usage: ratchet.Usage{InputTokens: 10, OutputTokens: 5}}}
	}).WithoutRecording()
}

func (b *bigRun) agent(t *testing.T, st store.Store) *ratchet.Agent {
	fetch := ratchet.NewTool("fetch", "Fetches a lot.", func(ctx context.Context, in struct {
		Text string `json:"text"`
	}) (string, error) {
		key := ratchet.IdempotencyKey(ctx)
		b.mu.Lock()
		b.ran[key]++
		b.mu.Unlock()
		return strings.Repeat("y", b.size-len(key)) + key, nil
	}, ratchet.Idempotent())
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "big", Model: b.model(t), Store: st, Tools: []ratchet.Tool{fetch},
		Clock:  ratchettest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Budget: ratchet.Budget{MaxSteps: ratchet.Unlimited, MaxToolCalls: ratchet.Unlimited},
	})
	require.NoError(t, err)
	return a
}

// TestLongRunWithBigParallelResults: a run whose state passed 4 MiB broke
// at its next snapshot (with 8 parallel calls of 64 KiB results, at step
// 15). Now a run of 300 such steps completes, on a Memory and a File
// store, stopped and resumed from a fresh Agent after steps 1, 15, 150
// and 299: the final answer saw every result, every call ran exactly
// once, no record exceeds the limit, and snapshots stay bounded.
func TestLongRunWithBigParallelResults(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) store.Store{
		"memory": func(*testing.T) store.Store { return store.NewMemory(nil) },
		"file": func(t *testing.T) store.Store {
			fs, err := store.NewFile(t.TempDir(), nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = fs.Close() })
			return fs
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := mk(t)
			b := &bigRun{steps: 300, calls: 8, size: 64 << 10, ran: map[string]int{}}
			r, err := b.agent(t, st).Start(ctx, "fetch a lot", &ratchet.RunOptions{ID: "big"})
			require.NoError(t, err)
			stops := []int{1, 15, 150, 299}
			for step := 1; r.Status() == ratchet.StatusRunning; step++ {
				_, err := r.Step(ctx)
				require.NoError(t, err, "step %d", step)
				if slices.Contains(stops, step) {
					require.NoError(t, r.Close(ctx))
					r, err = b.agent(t, st).Resume(ctx, "big", nil)
					require.NoError(t, err, "resume after step %d", step)
					require.Equal(t, step, r.State().Step)
				}
			}
			require.Equal(t, ratchet.StatusSucceeded, r.Status())
			require.Equal(t, fmt.Sprintf("saw %d results, 0 bad", 299*8), r.Output())
			require.Len(t, b.ran, 299*8)
			for k, n := range b.ran {
				require.Equal(t, 1, n, "call %s ran %d times", k, n)
			}
			recs, err := st.Read(ctx, "big", 1)
			require.NoError(t, err)
			snaps := 0
			for _, sr := range recs {
				require.LessOrEqual(t, len(sr.Data), store.MaxRecordSizeDefault)
				rec, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
				require.NoError(t, err)
				if rec.Kind == ratchet.RecSnapshot {
					snaps++
					require.LessOrEqual(t, len(sr.Data), ratchet.SnapshotMaxBytes)
				}
				if rec.Result != nil {
					require.NotEqual(t, "unknown_outcome", rec.Result.Error)
				}
			}
			require.NotZero(t, snaps)
			loaded, err := ratchet.LoadState(ctx, st, "big")
			require.NoError(t, err)
			require.Equal(t, r.State().Messages, loaded.Messages)
		})
	}
}

// TestOversizedModelResponse: a model response over 4 MiB left the run
// running, and every resume or poll called the model again with nothing
// recorded. Now it is a *ModelError of kind response_too_large whose
// usage and cost are counted (state and index), the run pauses after the
// retry policy, and 20 resumes do not call the model again; an operator's
// RetryRun does.
func TestOversizedModelResponse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := store.NewMemory(nil)
	huge := strings.Repeat("z", 5<<20)
	model := ratchettest.NewModelFunc(t, func(context.Context, int, *ratchet.Request) ratchettest.Reply {
		return ratchettest.Reply{Response: &ratchet.Response{Model: "m", Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: huge},
			FinishReason: ratchet.FinishStop, Usage: ratchet.Usage{InputTokens: 100, OutputTokens: 1000}}}
	}).WithoutRecording()
	cfg := ratchet.Config{Name: "talker", Model: model, Store: mem,
		Pricing: ratchet.Pricing{"m": {InputPerMTok: 1_000_000, OutputPerMTok: 1_000_000}},
		Retry:   ratchet.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond, Classify: func(error) ratchet.RetryDecision { return ratchet.RetryDecision{Retry: true} }}}
	a, err := ratchet.NewAgent(cfg)
	require.NoError(t, err)
	r, err := a.Start(ctx, "talk", &ratchet.RunOptions{ID: "talk"})
	require.NoError(t, err)
	_, err = r.Step(ctx)
	var me *ratchet.ModelError
	require.ErrorAs(t, err, &me)
	require.Equal(t, ratchet.ModelResponseTooLarge, me.Kind)
	require.Equal(t, ratchet.StatusPaused, r.Status())
	require.Equal(t, 3, model.Calls(), "the retry policy allows 3 attempts")
	st := r.State()
	require.EqualValues(t, 300, st.Usage.InputTokens)
	require.EqualValues(t, 3000, st.Usage.OutputTokens)
	require.InDelta(t, 3300, st.CostUSD, 1e-6)
	info, err := mem.Get(ctx, "talk")
	require.NoError(t, err)
	require.InDelta(t, 3300, info.Totals.CostUSD, 1e-6)
	require.Equal(t, string(ratchet.StatusPaused), info.Status)
	require.NoError(t, r.Close(ctx))

	for i := range 20 {
		a, err := ratchet.NewAgent(cfg)
		require.NoError(t, err)
		r, err := a.Resume(ctx, "talk", nil)
		require.NoError(t, err)
		_, err = r.Step(ctx)
		require.ErrorAs(t, err, &me, "resume %d", i)
		require.Equal(t, ratchet.ModelResponseTooLarge, me.Kind)
		require.NoError(t, r.Close(ctx))
	}
	require.Equal(t, 3, model.Calls(), "a resume called the model again")

	// A cost budget counts the spend: it pauses the run before any call.
	_, err = ratchet.RetryRun(ctx, mem, nil, "talk", &ratchet.Budget{MaxCostUSD: 1000})
	require.NoError(t, err)
	r, err = a.Resume(ctx, "talk", nil)
	require.NoError(t, err)
	_, err = r.Step(ctx)
	var be *ratchet.BudgetError
	require.ErrorAs(t, err, &be)
	require.Equal(t, 3, model.Calls())
	require.NoError(t, r.Close(ctx))

	// Retried by an operator with room: the model is called again.
	_, err = ratchet.RetryRun(ctx, mem, nil, "talk", &ratchet.Budget{MaxCostUSD: 1e9})
	require.NoError(t, err)
	r, err = a.Resume(ctx, "talk", nil)
	require.NoError(t, err)
	_, err = r.Step(ctx)
	require.ErrorAs(t, err, &me)
	require.Equal(t, 6, model.Calls())
	require.NoError(t, r.Close(ctx))
}

// TestOversizedToolResultIsCut: a tool result over the record limit was
// lost and the model told the outcome is unknown. Now, even with
// MaxToolOutputBytes Unlimited, it is cut to fit with the truncation
// marker, the cut is recorded (OriginalBytes), and the model sees the cut
// result.
func TestOversizedToolResultIsCut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		store store.Store
		limit int
	}{
		{"memory", store.NewMemory(nil), store.MaxRecordSizeDefault},
		// A store that does not say its limit: cut harder after its error.
		{"unsaid", hiddenLimit{store.NewMemory(&store.MemoryOptions{MaxRecordSize: 1 << 20})}, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			huge := strings.Repeat("é", 5<<20/2) // 5 MiB of 2-byte runes
			var seen string
			model := ratchettest.NewModelFunc(t, func(_ context.Context, call int, req *ratchet.Request) ratchettest.Reply {
				if call == 0 {
					return ratchettest.ToolCalls(ratchettest.Call{Name: "dump", Args: `{"text":"x"}`})
				}
				seen = req.Messages[len(req.Messages)-1].Content
				return ratchettest.Text("ok")
			}).WithoutRecording()
			dump := ratchet.NewTool("dump", "Dumps.", func(context.Context, struct {
				Text string `json:"text"`
			}) (string, error) {
				return huge, nil
			})
			a, err := ratchet.NewAgent(ratchet.Config{Name: "dumper", Model: model, Store: tc.store,
				Tools: []ratchet.Tool{dump}, MaxToolOutputBytes: ratchet.Unlimited})
			require.NoError(t, err)
			out, err := a.Run(ctx, "dump", &ratchet.RunOptions{ID: "dump"})
			require.NoError(t, err)
			require.Equal(t, "ok", out)
			require.Contains(t, seen, ratchet.TruncationMarker)
			require.True(t, strings.HasPrefix(seen, "éé"))
			recs, err := tc.store.Read(ctx, "dump", 1)
			require.NoError(t, err)
			var res *ratchet.ToolResult
			for _, sr := range recs {
				require.LessOrEqual(t, len(sr.Data), tc.limit)
				rec, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
				require.NoError(t, err)
				if rec.Kind == ratchet.RecToolFinished {
					res = rec.Result
				}
			}
			require.NotNil(t, res)
			require.Equal(t, len(huge), res.OriginalBytes)
			require.Equal(t, seen, res.Content)
			require.False(t, res.IsError)
			require.Greater(t, len(res.Content), tc.limit/8, "cut far more than needed")
		})
	}
}

// hiddenLimit hides its store's MaxRecordSize.
type hiddenLimit struct{ store.Store }

// TestToolResultCutAtMaxOutputBytesIsRecorded: a result cut at the tool's
// cap records its original size.
func TestToolResultCutAtMaxOutputBytesIsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := store.NewMemory(nil)
	model := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "dump", Args: `{"text":"x"}`}), ratchettest.Text("ok"))
	dump := ratchet.NewTool("dump", "Dumps.", func(context.Context, struct {
		Text string `json:"text"`
	}) (string, error) {
		return strings.Repeat("a", 1000), nil
	})
	a, err := ratchet.NewAgent(ratchet.Config{Name: "dumper", Model: model, Store: mem, Tools: []ratchet.Tool{dump}, MaxToolOutputBytes: 100})
	require.NoError(t, err)
	_, err = a.Run(ctx, "dump", &ratchet.RunOptions{ID: "dump"})
	require.NoError(t, err)
	st, err := ratchet.LoadState(ctx, mem, "dump")
	require.NoError(t, err)
	var found bool
	recs, err := mem.Read(ctx, "dump", 1)
	require.NoError(t, err)
	for _, sr := range recs {
		rec, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		require.NoError(t, err)
		if rec.Kind == ratchet.RecToolFinished {
			found = true
			require.Equal(t, 1000, rec.Result.OriginalBytes)
			require.True(t, strings.HasPrefix(rec.Result.Content, strings.Repeat("a", 100)+ratchet.TruncationMarker))
		}
	}
	require.True(t, found)
	require.Equal(t, ratchet.StatusSucceeded, st.Status)
}
