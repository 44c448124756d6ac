package ratchet_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
	"github.com/stretchr/testify/require"
)

func TestCancelDuringModelCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Reply{Delay: time.Hour, Response: ratchettest.Text("never").Response},
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := stepAsync(ctx, run)
	require.Eventually(t, func() bool { return m.Calls() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	res := <-ch
	require.ErrorIs(t, res.err, context.Canceled)
	require.Equal(t, ratchet.StatusRunning, run.Status())
	require.Equal(t, []ratchet.RecordKind{ratchet.RecRunStarted}, kindsOf(logOf(t, b.store, "run-1")))
	requireFolds(t, b.store, run)

	run2, err := a.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	out, err := run2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
}

func TestCancelDuringRetrySleep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 500}), ratchettest.Text("ok"))
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := stepAsync(ctx, run)
	require.True(t, b.clock.WaitForWaiters(1, 5*time.Second))
	cancel()
	res := <-ch
	require.ErrorIs(t, res.err, context.Canceled)
	require.Equal(t, []ratchet.RecordKind{ratchet.RecRunStarted, ratchet.RecModelFailed}, kindsOf(logOf(t, b.store, "run-1")))
	requireFolds(t, b.store, run)
	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
}

func TestCancelDuringTool(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var idem, other atomic.Int64
	gate := make(chan struct{})
	wait := func(n *atomic.Int64) func(ctx context.Context, in struct{}) (string, error) {
		return func(ctx context.Context, in struct{}) (string, error) {
			if n.Add(1) == 1 {
				<-ctx.Done()
				return "", ctx.Err()
			}
			<-gate
			return "done", nil
		}
	}
	b.tools = []ratchet.Tool{
		ratchet.NewTool("idem", "Idempotent.", wait(&idem), ratchet.Idempotent()),
		ratchet.NewTool("other", "Not idempotent.", wait(&other)),
	}
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "idem", Args: `{}`}, ratchettest.Call{Name: "other", Args: `{}`}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := stepAsync(ctx, run)
	require.Eventually(t, func() bool { return idem.Load() == 1 && other.Load() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	res := <-ch
	require.ErrorIs(t, res.err, context.Canceled)
	require.Equal(t, ratchet.StatusRunning, run.Status())
	recs := logOf(t, b.store, "run-1")
	require.Len(t, ofKind(recs, ratchet.RecToolStarted), 2)
	require.Empty(t, ofKind(recs, ratchet.RecToolFinished), "interrupted calls stay open")
	requireFolds(t, b.store, run)

	close(gate)
	run2, err := a.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	out, err := run2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Equal(t, 2, m.Calls(), "the persisted response was not asked for again")
	require.Equal(t, int64(2), idem.Load(), "the idempotent call ran again")
	require.Equal(t, int64(1), other.Load(), "the other call was not")
	msgs := m.Requests()[1].Messages
	assertWellFormed(t, msgs[1:])
	require.Equal(t, "done", msgs[3].Content)
	require.Contains(t, msgs[4].Content, "outcome of this call is unknown")
	requireFolds(t, b.store, run2)
}

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

// uncomparableCtx is a context whose type cannot be compared with ==.
type uncomparableCtx struct {
	context.Context
	tags []string
}

// The contexts a model and a tool get carry their deadlines and the
// idempotency key while they run, and are cancelled once the step is over,
// even if they were kept (and never waited on) by the model or tool.
func TestCallContextsDuringAndAfterStep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget ratchet.Budget
		ctx    context.Context
	}{
		{"default timeouts", ratchet.Budget{}, context.Background()},
		{"no step timeout, uncomparable caller context", ratchet.Budget{StepTimeout: ratchet.Unlimited},
			uncomparableCtx{Context: context.Background(), tags: []string{"x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var modelCtx, toolCtx context.Context
			var modelDL, toolDL time.Time
			var key string
			m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, _ *ratchet.Request) ratchettest.Reply {
				modelCtx = ctx
				modelDL, _ = ctx.Deadline()
				if call == 0 {
					return ratchettest.ToolCalls(ratchettest.Call{Name: "keep", Args: `{}`})
				}
				return ratchettest.Text("done")
			})
			keep := ratchet.NewTool("keep", "Keeps its context.", func(ctx context.Context, _ struct{}) (string, error) {
				toolCtx = ctx
				toolDL, _ = ctx.Deadline()
				key = ratchet.IdempotencyKey(ctx)
				if err := ctx.Err(); err != nil {
					return "", err
				}
				return "kept", nil
			}, ratchet.WithTimeout(time.Minute))
			a, err := ratchet.NewAgent(ratchet.Config{Name: "ctx", Model: m, Tools: []ratchet.Tool{keep},
				Store: store.NewMemory(nil), Budget: tc.budget})
			if err != nil {
				t.Fatal(err)
			}
			run, err := a.Start(tc.ctx, "go", nil)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			st, err := run.Step(tc.ctx)
			if err != nil || len(st.Results()) != 1 || st.Results()[0].Content != "kept" {
				t.Fatalf("step: %v %+v", err, st.Results())
			}
			if d := modelDL.Sub(before); d < 4*time.Minute || d > 6*time.Minute {
				t.Errorf("model call deadline in %v, want about %v", d, ratchet.ModelTimeoutDefault)
			}
			if d := toolDL.Sub(before); d < 50*time.Second || d > 70*time.Second {
				t.Errorf("tool call deadline in %v, want about 1m", d)
			}
			if key != run.ID()+"/1/0" {
				t.Errorf("idempotency key %q", key)
			}
			for name, ctx := range map[string]context.Context{"model": modelCtx, "tool": toolCtx} {
				if !errors.Is(ctx.Err(), context.Canceled) {
					t.Errorf("%s context after the step: %v", name, ctx.Err())
				}
				select {
				case <-ctx.Done():
				default:
					t.Errorf("%s context not done after the step", name)
				}
			}
			if ratchet.IdempotencyKey(toolCtx) != key {
				t.Error("the key is gone from the kept context")
			}
		})
	}
}

// A run resumed by a process whose clock is behind the times of the
// records another process wrote (clock skew, an operator's answer) steps
// normally: its step's active time is measured on its own clock, and its
// records' times go back rather than jump ahead.
func TestStepAfterRecordsFromAClockAhead(t *testing.T) {
	st := store.NewMemory(nil)
	script := func() *ratchettest.Model {
		return ratchettest.NewModelFunc(t, func(ctx context.Context, call int, _ *ratchet.Request) ratchettest.Reply {
			return ratchettest.ToolCalls(ratchettest.Call{Name: "keep", Args: `{}`})
		})
	}
	keep := ratchet.NewTool("keep", "Does nothing.", func(ctx context.Context, _ struct{}) (string, error) { return "ok", nil })
	agent := func(clock ratchet.Clock) *ratchet.Agent {
		a, err := ratchet.NewAgent(ratchet.Config{Name: "skew", Model: script(), Tools: []ratchet.Tool{keep}, Store: st, Clock: clock,
			Budget: ratchet.Budget{MaxWallTime: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ctx := context.Background()
	ahead := ratchettest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	run, err := agent(ahead).Start(ctx, "go", &ratchet.RunOptions{ID: "skew"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if err := run.Close(ctx); err != nil { // its lease runs on its clock
		t.Fatal(err)
	}
	behind := ratchettest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	run, err = agent(behind).Resume(ctx, "skew", nil)
	if err != nil {
		t.Fatal(err)
	}
	step, err := run.Step(ctx)
	if err != nil {
		t.Fatalf("step after records from a clock ahead: %v", err)
	}
	for _, rec := range step.Records {
		if rec.Active < 0 || rec.Active > time.Minute || !rec.Time.Equal(behind.Now()) {
			t.Errorf("%s: active %v at %v, want about 0 at %v", rec.Kind, rec.Active, rec.Time, behind.Now())
		}
	}
}

// A retried model call and a retried tool call each get a live context of
// their own: the first attempt's context, made in the step's shared space,
// is cancelled when that attempt returns.
func TestRetriedCallsGetFreshContexts(t *testing.T) {
	var modelErrs, toolErrs []error
	var kept []context.Context
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, _ *ratchet.Request) ratchettest.Reply {
		modelErrs = append(modelErrs, ctx.Err())
		kept = append(kept, ctx)
		switch call {
		case 0:
			return ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, Message: "try again"})
		case 1:
			return ratchettest.ToolCalls(ratchettest.Call{Name: "flaky", Args: `{}`})
		}
		return ratchettest.Text("done")
	})
	attempts := 0
	flaky := ratchet.NewTool("flaky", "Fails once.", func(ctx context.Context, _ struct{}) (string, error) {
		toolErrs = append(toolErrs, ctx.Err())
		kept = append(kept, ctx)
		if attempts++; attempts == 1 {
			return "", errors.New("transient")
		}
		return "ok", nil
	}, ratchet.WithOnError(ratchet.ToolErrorRetry), ratchet.WithRetry(ratchet.RetryPolicy{InitialDelay: time.Nanosecond, Jitter: -1}))
	a, err := ratchet.NewAgent(ratchet.Config{Name: "retry", Model: m, Tools: []ratchet.Tool{flaky}, Store: store.NewMemory(nil),
		Retry: ratchet.RetryPolicy{InitialDelay: time.Nanosecond, Jitter: -1}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Run(context.Background(), "go", nil)
	if err != nil || out != "done" {
		t.Fatalf("run: %q, %v", out, err)
	}
	if len(modelErrs) != 3 || len(toolErrs) != 2 {
		t.Fatalf("model attempts %d, tool attempts %d", len(modelErrs), len(toolErrs))
	}
	for i, err := range append(modelErrs, toolErrs...) {
		if err != nil {
			t.Errorf("attempt %d started with a context already done: %v", i, err)
		}
	}
	for i, ctx := range kept {
		if ctx.Err() == nil {
			t.Errorf("context %d still live after its run ended", i)
		}
	}
}

// In a step with two calls where one waits for approval, the other's
// result is kept until the approval comes, even when the run goes on in
// memory (as a Scheduler's run does when an approval's deadline passes
// while it holds the run): the approved call's records must not overwrite
// it.
func TestWaitingStepKeepsItsResults(t *testing.T) {
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "risky", Args: `{}`}, ratchettest.Call{Name: "echo", Args: `{}`}),
		ratchettest.Text("done"))
	risky := ratchet.NewTool("risky", "Needs approval.", func(ctx context.Context, _ struct{}) (string, error) {
		return "risky ran", nil
	}, ratchet.NeedsApproval())
	echo := ratchet.NewTool("echo", "Echoes.", func(ctx context.Context, _ struct{}) (string, error) {
		return "echo ran", nil
	})
	st := store.NewMemory(nil)
	a, err := ratchet.NewAgent(ratchet.Config{Name: "approve", Model: m, Tools: []ratchet.Tool{risky, echo}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run, err := a.Start(ctx, "go", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Step(ctx); err != nil || run.Status() != ratchet.StatusWaiting {
		t.Fatalf("step 1: %v, %s", err, run.Status())
	}
	ints := run.State().Interrupts
	if len(ints) != 1 {
		t.Fatalf("interrupts: %+v", ints)
	}
	if err := ratchet.ApplyAnswer(ctx, run, ints[0].ID, ratchet.Answer{Approved: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, msg := range run.State().Messages {
		if msg.Role == ratchet.RoleTool {
			got = append(got, msg.Name+": "+msg.Content)
		}
	}
	if want := []string{"risky: risky ran", "echo: echo ran"}; !slices.Equal(got, want) {
		t.Fatalf("tool messages %q, want %q", got, want)
	}
}

func emptyReply() ratchettest.Reply {
	return ratchettest.Reply{Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant}, FinishReason: ratchet.FinishStop}}
}

func truncatedReply() ratchettest.Reply {
	r := ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b`})
	r.Response.FinishReason = ratchet.FinishLength
	return r
}

func TestRepairTurns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		bad   func() ratchettest.Reply
		kind  ratchet.ParseKind
		role  ratchet.Role // of the repair message the next request ends with
		wants []string     // substrings of that message
	}{
		{"invalid json", func() ratchettest.Reply { return ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,`}) },
			ratchet.ParseArguments, ratchet.RoleTool, []string{`invalid arguments for tool "add"`, "Fix the arguments"}},
		{"schema violation", func() ratchettest.Reply {
			return ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":"one","b":2}`})
		}, ratchet.ParseArguments, ratchet.RoleTool, []string{`invalid arguments for tool "add"`, "a"}},
		{"unknown tool", func() ratchettest.Reply { return ratchettest.ToolCalls(ratchettest.Call{Name: "mul", Args: `{}`}) },
			ratchet.ParseUnknownTool, ratchet.RoleTool, []string{`unknown tool "mul"; available tools: add, echo`}},
		{"empty", emptyReply, ratchet.ParseEmpty, ratchet.RoleUser, []string{"Your last response was empty"}},
		{"truncated arguments", truncatedReply, ratchet.ParseArguments, ratchet.RoleTool, []string{"cut off at the output token limit"}},
		{"server could not parse", func() ratchettest.Reply {
			return ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelInvalidOutput, StatusCode: 400, Message: "tool_use_failed", Output: "<call add>"})
		}, ratchet.ParseServer, ratchet.RoleUser, []string{"could not be parsed: tool_use_failed", "<call add>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			// One bad output, then a good one: a repair turn, then success.
			b := setup(t)
			m := ratchettest.NewModel(t, tc.bad(), ratchettest.Text("fixed"))
			a := b.agent(t, m, nil)
			out, err := a.Run(context.Background(), "go", nil)
			require.NoError(t, err)
			require.Equal(t, "fixed", out)
			reqs := m.Requests()
			require.Len(t, reqs, 2)
			last := reqs[1].Messages[len(reqs[1].Messages)-1]
			require.Equal(t, tc.role, last.Role)
			for _, w := range tc.wants {
				require.Contains(t, last.Content, w)
			}
			assertWellFormed(t, reqs[1].Messages[1:])

			// Bad every time: two repair turns (the default), then a
			// ParseError, and every bad output is in the log.
			b = setup(t)
			m = ratchettest.NewModel(t, tc.bad(), tc.bad(), tc.bad())
			a = b.agent(t, m, nil)
			run, err := a.Start(context.Background(), "go", nil)
			require.NoError(t, err)
			_, err = run.Wait(context.Background())
			pe, ok := errors.AsType[*ratchet.ParseError](err)
			require.True(t, ok, "%v", err)
			require.Equal(t, tc.kind, pe.Kind)
			require.Equal(t, 2, pe.Repairs)
			require.Equal(t, 3, m.Calls())
			require.Equal(t, ratchet.StatusFailed, run.Status())
			recs := logOf(t, b.store, "run-1")
			bad := 0
			for _, r := range recs {
				if r.Repair {
					bad++
				}
			}
			require.Equal(t, 3, bad)
			require.Equal(t, ratchet.RecRunFailed, recs[len(recs)-1].Kind)
			require.Equal(t, "parse:"+string(tc.kind), recs[len(recs)-1].Error.Kind)
			requireFolds(t, b.store, run)
		})
	}
}

func TestRepairLimitConfigurable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, emptyReply())
	a := b.agent(t, m, func(c *ratchet.Config) { c.Parse.MaxRepairs = -1 })
	_, err := a.Run(context.Background(), "go", nil)
	pe, ok := errors.AsType[*ratchet.ParseError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 0, pe.Repairs)

	// A usable output in between resets the count.
	b = setup(t)
	m = ratchettest.NewModel(t, emptyReply(), emptyReply(),
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}),
		emptyReply(), emptyReply(), ratchettest.Text("3"))
	out, err := b.agent(t, m, nil).Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "3", out)
}

func TestBadCallDoesNotStopGoodSibling(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}, ratchettest.Call{Name: "add", Args: `not json`}),
		ratchettest.Text("3"),
	)
	out, err := b.agent(t, m, nil).Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "3", out)
	msgs := m.Requests()[1].Messages
	require.Equal(t, "3", msgs[3].Content)
	require.True(t, msgs[4].IsError)
	require.Equal(t, int64(1), b.adds.Load())
}

// TestStoreFaults fails every append of many scripted runs in turn, with
// an I/O error, a full disk and a lost acknowledgement (the batch was
// written but Append failed). The run stops with ErrRunBroken wrapping the
// cause; the inner store holds the run as of its last successful append
// (plus the lost-ack batch); and resuming from it ends with the output an
// undisturbed run gives, without re-running persisted work.
func TestStoreFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	faults := []struct {
		name  string
		mode  ratchettest.FaultMode
		err   func() error
		match error
	}{
		{"io", ratchettest.FaultBefore, ratchettest.ErrIO, ratchettest.ErrInjected},
		{"enospc", ratchettest.FaultBefore, ratchettest.ErrDiskFull, syscall.ENOSPC},
		{"lost-ack", ratchettest.FaultAfter, ratchettest.ErrIO, syscall.EIO},
	}
	for seed := uint64(0); seed < 25; seed++ {
		sc := genScript(seed)
		var c0 counter
		counted := ratchettest.NewFaultStore(store.NewMemory(nil))
		want, err := newScriptAgent(t, counted.Store(), sc.model(t), &c0, 4).Run(ctx, "go", nil)
		require.NoError(t, err)
		total := counted.Appends()
		for n := 1; n <= total; n++ {
			for _, f := range faults {
				var inner store.Store = store.NewMemory(nil)
				if seed == 0 {
					fs, err := store.NewFile(t.TempDir(), nil)
					require.NoError(t, err)
					t.Cleanup(func() { _ = fs.Close() })
					inner = fs
				}
				fst := ratchettest.NewFaultStore(inner).FailAppend(n, f.mode, f.err())
				var c counter
				run, err := newScriptAgent(t, fst.Store(), sc.model(t), &c, 4).Start(ctx, "go", nil)
				require.NoError(t, err)
				_, err = run.Wait(ctx)
				require.ErrorIs(t, err, ratchet.ErrRunBroken, "seed %d append %d %s", seed, n, f.name)
				require.ErrorIs(t, err, f.match, "seed %d append %d %s", seed, n, f.name)
				// Further steps keep failing without touching the store.
				_, err = run.Step(ctx)
				require.ErrorIs(t, err, ratchet.ErrRunBroken)
				require.Equal(t, n, fst.Appends(), "a broken run appended again")

				live := run.State()
				loaded, err := ratchet.LoadState(ctx, inner, "run")
				require.NoError(t, err)
				if f.mode == ratchettest.FaultBefore {
					require.Equal(t, live.Seq, loaded.Seq, "seed %d append %d %s: store is not at the last good append", seed, n, f.name)
				} else {
					require.Greater(t, loaded.Seq, live.Seq, "seed %d append %d %s: lost-ack batch missing", seed, n, f.name)
				}

				recs, err := inner.Read(ctx, "run", 1)
				require.NoError(t, err)
				finished := finishedKeys(t, recs)
				m := sc.model(t)
				var c2 counter
				resumed, err := newScriptAgent(t, inner, m, &c2, 4).Resume(ctx, "run", nil)
				require.NoError(t, err)
				got, err := resumed.Wait(ctx)
				require.NoError(t, err, "seed %d append %d %s", seed, n, f.name)
				require.Equal(t, want, got)
				require.Equal(t, len(sc)-loaded.Step, m.Calls(), "seed %d append %d %s: model calls", seed, n, f.name)
				for key := range c2.runs {
					require.False(t, finished[key], "tool %s re-ran after its result was persisted", key)
				}
			}
		}
	}
}

// TestStoreReadFaults: a store that cannot be read gives an error wrapping
// the cause, never a half-loaded run; once it recovers the run resumes.
func TestStoreReadFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sc := genScript(7)
	fst := ratchettest.NewFaultStore(store.NewMemory(nil))
	var c counter
	a := newScriptAgent(t, fst.Store(), sc.model(t), &c, 4)
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	_, err = run.Step(ctx)
	require.NoError(t, err)
	require.NoError(t, run.Close(ctx)) // as if its process ended

	fst.FailReads(ratchettest.ErrIO())
	_, err = a.Resume(ctx, "run", nil)
	require.ErrorIs(t, err, syscall.EIO)
	require.False(t, errors.Is(err, store.ErrNotFound))

	fst.FailReads(nil)
	r2, err := a.Resume(ctx, "run", nil)
	require.NoError(t, err)
	got, err := r2.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "answer-7", got)
}
