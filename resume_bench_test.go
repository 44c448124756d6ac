package ratchet_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// longRun runs a steps-step agent run (one tool call per step) on a Memory
// store and returns the store.
func longRun(tb testing.TB, steps int, snapEvery int) *store.Memory {
	tb.Helper()
	ctx := context.Background()
	mem := store.NewMemory(nil)
	model := ratchettest.NewModelFunc(tb, func(_ context.Context, call int, _ *ratchet.Request) ratchettest.Reply {
		if call == steps-1 {
			return ratchettest.Reply{Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: "done"},
				FinishReason: ratchet.FinishStop, Usage: ratchet.Usage{InputTokens: 1000, OutputTokens: 20}}}
		}
		return ratchettest.Reply{Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant,
			Content:   fmt.Sprintf("step %d: adding a few numbers to make progress on the task", call),
			ToolCalls: []ratchet.ToolCall{{ID: fmt.Sprintf("call_%d", call), Name: "add", Arguments: fmt.Sprintf(`{"a":%d,"b":%d}`, call, call+1)}}},
			FinishReason: ratchet.FinishToolCalls, Usage: ratchet.Usage{InputTokens: 1000, OutputTokens: 20}}}
	})
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "bench", Model: model, Store: mem, SnapshotEvery: snapEvery,
		Clock:  ratchettest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		NewID:  func() string { return "run" },
		Tools:  []ratchet.Tool{ratchet.NewTool("add", "Adds.", func(_ context.Context, in addArgs) (int, error) { return in.A + in.B, nil })},
		Budget: ratchet.Budget{MaxSteps: ratchet.Unlimited},
	})
	require.NoError(tb, err)
	_, err = a.Run(ctx, "add many numbers", nil)
	require.NoError(tb, err)
	return mem
}

// copyToFile writes the run "run" of src into a File store in dir, in a
// few large batches (the records are the same as a live run's; only the
// batching differs, which the format does not record).
func copyToFile(tb testing.TB, src store.Store, dir string) {
	tb.Helper()
	ctx := context.Background()
	info, err := src.Get(ctx, "run")
	require.NoError(tb, err)
	recs, err := src.Read(ctx, "run", 1)
	require.NoError(tb, err)
	fs, err := store.NewFile(dir, nil)
	require.NoError(tb, err)
	defer fs.Close()
	first := info
	first.Meta = store.Meta{Status: string(ratchet.StatusRunning)}
	require.NoError(tb, fs.Create(ctx, first, [][]byte{recs[0].Data}))
	for i := 1; i < len(recs); i += 500 {
		end := min(i+500, len(recs))
		var data [][]byte
		for _, r := range recs[i:end] {
			data = append(data, r.Data)
		}
		meta := first.Meta
		if end == len(recs) {
			meta = info.Meta
		}
		require.NoError(tb, fs.Append(ctx, store.Batch{RunID: "run", Expected: uint64(i), Records: data, Meta: meta}))
	}
}

// BenchmarkResume opens a File store holding one long run and loads the
// run with Agent.Resume: what a restarted process pays per run.
func BenchmarkResume(b *testing.B) {
	for _, steps := range []int{100, 1000} {
		b.Run(fmt.Sprintf("steps=%d", steps), func(b *testing.B) {
			dir := b.TempDir()
			copyToFile(b, longRun(b, steps, 0), dir)
			ctx := context.Background()
			tools := []ratchet.Tool{ratchet.NewTool("add", "Adds.", func(_ context.Context, in addArgs) (int, error) { return in.A + in.B, nil })}
			b.ReportAllocs()
			for b.Loop() {
				fs, err := store.NewFile(dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				a, err := ratchet.NewAgent(ratchet.Config{Name: "bench", Model: ratchettest.NewModel(b), Store: fs, Tools: tools})
				if err != nil {
					b.Fatal(err)
				}
				r, err := a.Resume(ctx, "run", nil)
				if err != nil {
					b.Fatal(err)
				}
				if r.Status() != ratchet.StatusSucceeded {
					b.Fatal(r.Status())
				}
				_ = fs.Close()
			}
		})
	}
}
