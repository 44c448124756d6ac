package ratchet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// script is a generated model behaviour: one response per logical step.
type script []*ratchet.Response

// genScript makes a random but valid-ending script: steps of 1-3 tool calls
// (some with bad arguments or unknown tools), then a final answer.
func genScript(seed uint64) script {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n := 1 + rng.IntN(6)
	var s script
	for step := 0; step < n; step++ {
		k := 1 + rng.IntN(3)
		var calls []ratchet.ToolCall
		for i := 0; i < k; i++ {
			c := ratchet.ToolCall{ID: fmt.Sprintf("c%d_%d", step, i)}
			switch rng.IntN(8) {
			case 0:
				c.Name, c.Arguments = "add", `{"a":"x"}` // bad arguments
			case 1:
				c.Name, c.Arguments = "nope", `{}` // unknown tool
			case 2, 3, 4:
				c.Name, c.Arguments = "echo", fmt.Sprintf(`{"text":"t%d"}`, rng.IntN(100))
			default:
				c.Name, c.Arguments = "add", fmt.Sprintf(`{"a":%d,"b":%d}`, rng.IntN(100), rng.IntN(100))
			}
			calls = append(calls, c)
		}
		s = append(s, &ratchet.Response{
			Message:      ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: calls},
			FinishReason: ratchet.FinishToolCalls, Usage: ratchet.Usage{InputTokens: 100, OutputTokens: 10},
		})
	}
	s = append(s, &ratchet.Response{
		Message:      ratchet.Message{Role: ratchet.RoleAssistant, Content: fmt.Sprintf("answer-%d", seed)},
		FinishReason: ratchet.FinishStop, Usage: ratchet.Usage{InputTokens: 100, OutputTokens: 10},
	})
	return s
}

// model answers by the number of assistant messages already in the request,
// so a resumed run gets the response its step would have got.
func (s script) model(t *testing.T) *ratchettest.Model {
	return ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		n := 0
		for _, m := range req.Messages {
			if m.Role == ratchet.RoleAssistant {
				n++
			}
		}
		return ratchettest.Reply{Response: s[n]}
	})
}

// counter counts tool executions by idempotency key.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *counter) tools() []ratchet.Tool {
	c.runs = map[string]int{}
	count := func(ctx context.Context) {
		c.mu.Lock()
		c.runs[ratchet.IdempotencyKey(ctx)]++
		c.mu.Unlock()
	}
	return []ratchet.Tool{
		ratchet.NewTool("add", "Adds.", func(ctx context.Context, in addArgs) (int, error) {
			count(ctx)
			return in.A + in.B, nil
		}, ratchet.Idempotent()),
		ratchet.NewTool("echo", "Echoes (not idempotent).", func(ctx context.Context, in struct {
			Text string `json:"text"`
		}) (string, error) {
			count(ctx)
			return in.Text, nil
		}),
	}
}

func newScriptAgent(t *testing.T, st store.Store, m ratchet.Model, c *counter, snapEvery int) *ratchet.Agent {
	t.Helper()
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "prop", Model: m, Tools: c.tools(), Store: st,
		Clock:         ratchettest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		NewID:         func() string { return "run" },
		SnapshotEvery: snapEvery,
		Parse:         ratchet.ParsePolicy{MaxRepairs: 100},
		Retry:         ratchet.RetryPolicy{MaxAttempts: 1},
	})
	require.NoError(t, err)
	return a
}

func foldAll(t *testing.T, recs []store.Record) ratchet.State {
	t.Helper()
	var s ratchet.State
	for _, sr := range recs {
		r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		require.NoError(t, err)
		require.NoError(t, s.Apply(r))
	}
	s.RunID = "run"
	return s
}

// TestFoldEqualsLiveState: folding a run's records gives exactly the State
// the live run had, over many scripted runs, with and without snapshots.
func TestFoldEqualsLiveState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := uint64(0); seed < 200; seed++ {
		for _, snap := range []int{0, 3} {
			st := store.NewMemory(nil)
			var c counter
			a := newScriptAgent(t, st, genScript(seed).model(t), &c, snap)
			run, err := a.Start(ctx, "go", nil)
			require.NoError(t, err)
			live := []ratchet.State{run.State()}
			for !run.Status().Ended() {
				_, err := run.Step(ctx)
				require.NoError(t, err)
				live = append(live, run.State())
			}
			recs, err := st.Read(ctx, "run", 1)
			require.NoError(t, err)
			// The fold of every prefix that ends a Step equals that step's state.
			for _, want := range live {
				got := foldAll(t, recs[:want.Seq])
				require.Equal(t, want, got, "seed %d seq %d", seed, want.Seq)
				loaded, err := ratchet.LoadState(ctx, st, "run")
				require.NoError(t, err)
				if want.Seq == live[len(live)-1].Seq {
					require.Equal(t, want, loaded, "seed %d (snapshot load)", seed)
				}
			}
		}
	}
}

// TestCrashAtEveryRecordBoundary simulates a crash after every record of
// many scripted runs: the resumed run ends with the same output, never asks
// the model again for a persisted response, and never re-runs a tool whose
// result was persisted.
func TestCrashAtEveryRecordBoundary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := uint64(0); seed < 60; seed++ {
		sc := genScript(seed)
		full := &batchStore{Memory: store.NewMemory(nil)}
		var c0 counter
		a := newScriptAgent(t, full, sc.model(t), &c0, 4)
		want, err := a.Run(ctx, "go", nil)
		require.NoError(t, err)
		recs, err := full.Read(ctx, "run", 1)
		require.NoError(t, err)
		info, err := full.Get(ctx, "run")
		require.NoError(t, err)

		require.Equal(t, uint64(len(recs)), full.ends[len(full.ends)-1])
		for _, end := range full.ends[:len(full.ends)-1] {
			k := int(end)
			prefix := crashedStore(t, info, recs[:k])
			before := foldAll(t, recs[:k])
			m := sc.model(t)
			var c counter
			a := newScriptAgent(t, prefix, m, &c, 4)
			run, err := a.Resume(ctx, "run", nil)
			require.NoError(t, err, "seed %d k %d", seed, k)
			got, err := run.Wait(ctx)
			require.NoError(t, err, "seed %d k %d", seed, k)
			require.Equal(t, want, got, "seed %d k %d", seed, k)

			// The model was asked only for steps not yet persisted.
			require.Equal(t, len(sc)-before.Step, m.Calls(), "seed %d k %d: model calls", seed, k)
			for _, req := range m.Requests() {
				assertWellFormed(t, req.Messages)
			}
			// No persisted tool result was produced again.
			finished := finishedKeys(t, recs[:k])
			for key := range c.runs {
				require.False(t, finished[key], "seed %d k %d: tool %s re-ran after its result was persisted", seed, k, key)
			}
		}
	}
}

// batchStore remembers where each batch ended: a crash can only happen
// between batches, which stores append atomically.
type batchStore struct {
	*store.Memory
	ends []uint64
}

func (b *batchStore) Create(ctx context.Context, info store.RunInfo, recs [][]byte) error {
	b.ends = append(b.ends, uint64(len(recs)))
	return b.Memory.Create(ctx, info, recs)
}

func (b *batchStore) Append(ctx context.Context, batch store.Batch) error {
	if err := b.Memory.Append(ctx, batch); err != nil {
		return err
	}
	if len(batch.Records) > 0 {
		b.ends = append(b.ends, batch.Expected+uint64(len(batch.Records)))
	}
	return nil
}

// crashedStore is a store holding exactly recs, as a crash after them
// would leave it.
func crashedStore(t *testing.T, info store.RunInfo, recs []store.Record) *store.Memory {
	t.Helper()
	ctx := context.Background()
	st := store.NewMemory(nil)
	s := foldAll(t, recs[:1])
	info.Meta = store.Meta{Status: string(s.Status)}
	require.NoError(t, st.Create(ctx, info, [][]byte{recs[0].Data}))
	for _, r := range recs[1:] {
		rec, err := ratchet.DecodeRecord(r.Seq, r.Data)
		require.NoError(t, err)
		require.NoError(t, s.Apply(rec))
		require.NoError(t, st.Append(ctx, store.Batch{RunID: info.ID, Expected: r.Seq - 1, Records: [][]byte{r.Data},
			Meta: store.Meta{Status: string(s.Status), SnapshotSeq: s.SnapshotSeq}}))
	}
	return st
}

func finishedKeys(t *testing.T, recs []store.Record) map[string]bool {
	keys := map[string]bool{}
	for _, sr := range recs {
		r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		require.NoError(t, err)
		if r.Kind == ratchet.RecToolFinished {
			keys[r.Call.Key] = true
		}
	}
	return keys
}

// assertWellFormed checks that every tool call in msgs has exactly one
// result, right after its assistant message.
func assertWellFormed(t *testing.T, msgs []ratchet.Message) {
	t.Helper()
	for i := 0; i < len(msgs); i++ {
		m := msgs[i]
		if m.Role == ratchet.RoleTool {
			t.Fatalf("orphan tool result at %d: %+v", i, m)
		}
		if len(m.ToolCalls) == 0 {
			continue
		}
		for j, c := range m.ToolCalls {
			require.Less(t, i+1+j, len(msgs), "call %s has no result", c.ID)
			r := msgs[i+1+j]
			require.Equal(t, ratchet.RoleTool, r.Role)
			require.Equal(t, c.ID, r.ToolCallID)
		}
		i += len(m.ToolCalls)
	}
}

// batchKinds returns the kinds of run id's records, grouped by the batch
// that appended them.
func batchKinds(t *testing.T, b *batchStore, id string) [][]ratchet.RecordKind {
	t.Helper()
	recs := logOf(t, b.Memory, id)
	var out [][]ratchet.RecordKind
	start := uint64(0)
	for _, end := range b.ends {
		var kinds []ratchet.RecordKind
		for _, r := range recs[start:end] {
			kinds = append(kinds, r.Kind)
		}
		out = append(out, kinds)
		start = end
	}
	return out
}

// A step's only call starts in the batch that persists the response: one
// append fewer, and a crash finds both records or neither. A call that
// must not start yet (the budget is spent, approval is needed) leaves the
// response alone in its batch, as do calls that run in parallel.
func TestLoneCallStartsInTheResponseBatch(t *testing.T) {
	t.Parallel()
	const (
		resp     = ratchet.RecModelResponded
		started  = ratchet.RecToolStarted
		finished = ratchet.RecToolFinished
	)
	call := ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}
	approve := ratchet.NewTool("approve", "Needs approval.", func(ctx context.Context, in struct{}) (string, error) { return "ok", nil }, ratchet.NeedsApproval())
	for _, tc := range []struct {
		name    string
		replies []ratchettest.Reply
		budget  ratchet.Budget
		want    [][]ratchet.RecordKind
	}{
		{"one call", []ratchettest.Reply{ratchettest.ToolCalls(call), ratchettest.Text("3")}, ratchet.Budget{},
			[][]ratchet.RecordKind{{ratchet.RecRunStarted}, {resp, started}, {finished}, {resp, ratchet.RecRunCompleted}}},
		{"tool-call budget spent", []ratchettest.Reply{ratchettest.ToolCalls(call), ratchettest.ToolCalls(call)}, ratchet.Budget{MaxToolCalls: 1},
			[][]ratchet.RecordKind{{ratchet.RecRunStarted}, {resp, started}, {finished}, {resp}, {ratchet.RecRunPaused}}},
		{"two calls", []ratchettest.Reply{ratchettest.ToolCalls(call, call), ratchettest.Text("3")}, ratchet.Budget{},
			[][]ratchet.RecordKind{{ratchet.RecRunStarted}, {resp}, {started}, {started}, {finished}, {finished}, {resp, ratchet.RecRunCompleted}}},
		{"needs approval", []ratchettest.Reply{ratchettest.ToolCalls(ratchettest.Call{Name: "approve", Args: `{}`})}, ratchet.Budget{},
			[][]ratchet.RecordKind{{ratchet.RecRunStarted}, {resp}, {ratchet.RecInterrupted}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &batchStore{Memory: store.NewMemory(nil)}
			a, err := ratchet.NewAgent(ratchet.Config{Name: "calc", Model: ratchettest.NewModel(t, tc.replies...), Store: st,
				Tools: []ratchet.Tool{ratchet.NewTool("add", "Adds.", add), approve}, Budget: tc.budget, NewID: func() string { return "r" }})
			require.NoError(t, err)
			_, _ = a.Run(context.Background(), "go", nil)
			got := batchKinds(t, st, "r")
			if tc.name == "two calls" { // parallel: started and finished interleave
				require.Len(t, got, len(tc.want))
				require.Equal(t, tc.want[:2], got[:2])
				require.Equal(t, tc.want[len(tc.want)-1], got[len(got)-1])
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}
