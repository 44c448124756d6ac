package ratchet_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
	"github.com/stretchr/testify/require"
)

// addLoopModel always asks for one add call, except that a request whose last
// message is a user message asking for a final answer gets answer.
func addLoopModel(t *testing.T, answer string) *ratchettest.Model {
	return ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		if len(req.Tools) == 0 {
			return ratchettest.Text(answer)
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":1}`})
	})
}

// requirePausedBy checks err, the run and the index for a budget pause.
func requirePausedBy(t *testing.T, b *testBundle, run *ratchet.Run, err error, kind ratchet.BudgetKind) *ratchet.BudgetError {
	t.Helper()
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)
	be, ok := errors.AsType[*ratchet.BudgetError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, kind, be.Budget)
	require.Equal(t, ratchet.StatusPaused, run.Status())
	info, gerr := b.store.Get(context.Background(), run.ID())
	require.NoError(t, gerr)
	require.Equal(t, "paused", info.Status)
	requireFolds(t, b.store, run)
	return be
}

func TestBudgetMaxStepsPausesAndResumes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := addLoopModel(t, "")
	a := b.agent(t, m, func(c *ratchet.Config) { c.Budget.MaxSteps = 2 })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	be := requirePausedBy(t, b, run, err, ratchet.BudgetSteps)
	require.Equal(t, 2.0, be.Used)
	require.Equal(t, 2, m.Calls())
	require.Equal(t, int64(2), b.adds.Load(), "the last allowed step's tools ran")

	// Step again without raising it: still paused, nothing appended.
	before := len(logOf(t, b.store, "run-1"))
	_, err = run.Step(context.Background())
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)
	require.Len(t, logOf(t, b.store, "run-1"), before)

	raised := ratchet.Budget{MaxSteps: 3}
	run2, err := a.Resume(context.Background(), "run-1", &ratchet.RunOptions{Budget: &raised})
	require.NoError(t, err)
	st, err := run2.Step(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3, st.Number)
	require.Equal(t, ratchet.RecRunResumed, st.Records[0].Kind)
	require.Equal(t, 3, m.Calls())
	_, err = run2.Step(context.Background())
	requirePausedBy(t, b, run2, err, ratchet.BudgetSteps)
}

func TestBudgetMaxStepsDefaultStopsALoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := addLoopModel(t, "")
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	be := requirePausedBy(t, b, run, err, ratchet.BudgetSteps)
	require.Equal(t, float64(ratchet.MaxStepsDefault), be.Limit)
	require.Equal(t, ratchet.MaxStepsDefault, m.Calls())
}

func TestBudgetTokensPauseAfterResponseResumeRunsTools(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind   ratchet.BudgetKind
		budget ratchet.Budget
		raised ratchet.Budget
	}{
		{ratchet.BudgetTotalTokens, ratchet.Budget{MaxTotalTokens: 20}, ratchet.Budget{MaxTotalTokens: 100}},
		{ratchet.BudgetInputTokens, ratchet.Budget{MaxInputTokens: 20}, ratchet.Budget{MaxInputTokens: 100}},
		{ratchet.BudgetOutputTokens, ratchet.Budget{MaxOutputTokens: 10}, ratchet.Budget{MaxOutputTokens: 100}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			m := ratchettest.NewModel(t,
				ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":1}`}),
				ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":2,"b":2}`}),
				ratchettest.Text("done"),
			)
			a := b.agent(t, m, func(c *ratchet.Config) { c.Budget = tc.budget })
			run, err := a.Start(context.Background(), "go", nil)
			require.NoError(t, err)
			_, err = run.Wait(context.Background())
			// Step 2's response reached the budget: its tool did not run.
			requirePausedBy(t, b, run, err, tc.kind)
			require.Equal(t, 2, m.Calls())
			require.Equal(t, int64(1), b.adds.Load())
			require.NotNil(t, run.State().Calls)

			run2, err := a.Resume(context.Background(), "run-1", &ratchet.RunOptions{Budget: &tc.raised})
			require.NoError(t, err)
			st, err := run2.Step(context.Background())
			require.NoError(t, err)
			require.True(t, st.Resumed)
			require.Equal(t, 2, m.Calls(), "the persisted response was not asked for again")
			require.Equal(t, int64(2), b.adds.Load())
			out, err := run2.Wait(context.Background())
			require.NoError(t, err)
			require.Equal(t, "done", out)
			require.Equal(t, int64(2), b.adds.Load()) // no tool ran twice
			info, err := b.store.Get(context.Background(), "run-1")
			require.NoError(t, err)
			require.Equal(t, int64(30), info.Totals.InputTokens)
			require.Equal(t, int64(15), info.Totals.OutputTokens)
			require.Equal(t, int64(3), info.Totals.Steps)
			require.Equal(t, int64(2), info.Totals.ToolCalls)
		})
	}
}

func TestBudgetCost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	usage := ratchet.Usage{InputTokens: 1_000_000, CachedInputTokens: 500_000, OutputTokens: 100_000}
	call := ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":1}`})
	call.Response.Usage = usage
	call.Response.Model = "big-1"
	m := ratchettest.NewModel(t, call, call)
	pricing := ratchet.Pricing{"big-1": {InputPerMTok: 1, CachedInputPerMTok: 0.1, OutputPerMTok: 2}}
	// 0.5M uncached × $1 + 0.5M cached × $0.1 + 0.1M output × $2 = $0.75
	require.InDelta(t, 0.75, pricing.Cost("big-1", usage), 1e-9)
	require.Zero(t, pricing.Cost("unknown", usage))

	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Pricing = pricing
		c.Budget.MaxCostUSD = 1
		c.Budget.MaxTotalTokens = ratchet.Unlimited
	})
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	be := requirePausedBy(t, b, run, err, ratchet.BudgetCost)
	require.InDelta(t, 1.5, be.Used, 1e-9)
	require.InDelta(t, 1.5, run.State().CostUSD, 1e-9)
	info, err := b.store.Get(context.Background(), "run-1")
	require.NoError(t, err)
	require.InDelta(t, 1.5, info.Totals.CostUSD, 1e-9)
	resp := ofKind(logOf(t, b.store, "run-1"), ratchet.RecModelResponded)
	require.InDelta(t, 0.75, resp[0].CostUSD, 1e-9)
}

func TestBudgetMaxToolCalls(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":1}`}),
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":1}`}, ratchettest.Call{Name: "add", Args: `{"a":2,"b":2}`}),
		ratchettest.Text("done"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) { c.Budget.MaxToolCalls = 2 })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	be := requirePausedBy(t, b, run, err, ratchet.BudgetToolCalls)
	require.Equal(t, 3.0, be.Used)
	require.Equal(t, int64(1), b.adds.Load(), "no call of the step started")

	raised := ratchet.Budget{MaxToolCalls: 3}
	run2, err := a.Resume(context.Background(), "run-1", &ratchet.RunOptions{Budget: &raised})
	require.NoError(t, err)
	out, err := run2.Wait(context.Background())
	require.NoError(t, err, "a run that used all its calls still gives its answer")
	require.Equal(t, "done", out)
	require.Equal(t, 3, m.Calls())
}

func TestBudgetWallTimeCarriedAcrossResumes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = []ratchet.Tool{ratchet.NewTool("work", "Takes 6 minutes.", func(ctx context.Context, in struct{}) (string, error) {
		b.clock.Advance(6 * time.Minute)
		return "worked", nil
	})}
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		if call == 3 {
			return ratchettest.Text("done")
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "work", Args: `{}`})
	})
	a := b.agent(t, m, func(c *ratchet.Config) { c.Budget.MaxWallTime = 10 * time.Minute })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	be := requirePausedBy(t, b, run, err, ratchet.BudgetWallTime)
	require.Equal(t, (12 * time.Minute).Seconds(), be.Used)
	require.Equal(t, 12*time.Minute, run.State().Active)

	// An hour passes while the run is paused and not loaded: it does not count.
	b.clock.Advance(time.Hour)
	raised := ratchet.Budget{MaxWallTime: 20 * time.Minute}
	run2, err := a.Resume(context.Background(), "run-1", &ratchet.RunOptions{Budget: &raised})
	require.NoError(t, err)
	require.Equal(t, 12*time.Minute, run2.State().Active)
	out, err := run2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "done", out)
	require.Equal(t, 18*time.Minute, run2.State().Active)
	requireFolds(t, b.store, run2)
}

func TestBudgetWindDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := addLoopModel(t, "best guess: 2")
	a := b.agent(t, m, func(c *ratchet.Config) { c.Budget = ratchet.Budget{MaxSteps: 1, WindDown: true} })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "best guess: 2", out)
	reqs := m.Requests()
	require.Len(t, reqs, 2)
	require.Empty(t, reqs[1].Tools)
	last := reqs[1].Messages[len(reqs[1].Messages)-1]
	require.Equal(t, ratchet.RoleUser, last.Role)
	require.Contains(t, last.Content, "steps budget")
	wd := ofKind(logOf(t, b.store, "run-1"), ratchet.RecWindDown)
	require.Len(t, wd, 1)
	require.Equal(t, "budget:steps", wd[0].Error.Kind)

	// A wind-down answer that is not final still pauses the run, once.
	b = setup(t)
	m = ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":1}`}), emptyReply())
	a = b.agent(t, m, func(c *ratchet.Config) { c.Budget = ratchet.Budget{MaxSteps: 1, WindDown: true} })
	run, err = a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	requirePausedBy(t, b, run, err, ratchet.BudgetSteps)
	_, err = run.Step(context.Background())
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)
	require.Equal(t, 2, m.Calls())
}

func TestBudgetUnlimitedTimeouts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":1}`}), ratchettest.Text("2"))
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Budget = ratchet.Budget{ModelTimeout: ratchet.Unlimited, StepTimeout: ratchet.Unlimited, MaxWallTime: ratchet.Unlimited,
			MaxSteps: ratchet.Unlimited, MaxCostUSD: ratchet.Unlimited, MaxToolCalls: ratchet.Unlimited, MaxTotalTokens: ratchet.Unlimited}
	})
	out, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "2", out)
}

func TestBudgetStepTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var cancelled atomic.Bool
	b.tools = []ratchet.Tool{blocking("slow", &cancelled, ratchet.Idempotent())}
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "slow", Args: `{}`}))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Budget.StepTimeout = 30 * time.Millisecond })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Step(context.Background())
	requirePausedBy(t, b, run, err, ratchet.BudgetStepTime)
	require.True(t, cancelled.Load())

	// The caller's own deadline is not a step-time budget: the run stays
	// running and resumes later.
	b2 := setup(t)
	b2.tools = b.tools
	m2 := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "slow", Args: `{}`}))
	a2 := b2.agent(t, m2, nil)
	run2, err := a2.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = run2.Step(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, ratchet.ErrBudgetExceeded)
	require.Equal(t, ratchet.StatusRunning, run2.Status())
	requireFolds(t, b2.store, run2)
}

// A model call still running when a step timeout shorter than the model
// timeout fires pauses the run for step time: it is not a model timeout
// (the call then gets no timer of its own).
func TestBudgetStepTimeoutDuringModelCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.Reply{Delay: time.Minute, Response: ratchettest.Text("late").Response})
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Budget.StepTimeout = 30 * time.Millisecond
		c.Budget.ModelTimeout = time.Minute
	})
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Step(context.Background())
	requirePausedBy(t, b, run, err, ratchet.BudgetStepTime)
	st := run.State()
	require.Zero(t, st.Step, "no model response was recorded")
}

// appendResumed appends a run_resumed record carrying override, the way an
// operator (the ratchet CLI's retry command) does.
func appendResumed(t *testing.T, s store.Store, runID string, override *ratchet.Budget) {
	t.Helper()
	ctx := context.Background()
	st, err := ratchet.LoadState(ctx, s, runID)
	require.NoError(t, err)
	rec := &ratchet.Record{Version: ratchet.FormatVersion, Kind: ratchet.RecRunResumed, Time: st.UpdatedAt, Step: st.Step, Budget: override}
	data, err := ratchet.EncodeRecord(rec)
	require.NoError(t, err)
	require.NoError(t, s.Append(ctx, store.Batch{RunID: runID, Expected: st.Seq, Records: [][]byte{data},
		Meta: store.Meta{Status: string(ratchet.StatusRunning), UpdatedAt: st.UpdatedAt}}))
}

func TestPersistedBudgetOverride(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	newPaused := func(t *testing.T) (*testBundle, *ratchet.Agent) {
		t.Helper()
		b := setup(t)
		m := ratchettest.NewModel(t,
			ratchettest.ToolCall(t, "add", addArgs{A: 1, B: 2}),
			ratchettest.ToolCall(t, "add", addArgs{A: 3, B: 4}),
			ratchettest.Text("7"),
		)
		a := b.agent(t, m, func(c *ratchet.Config) { c.Budget = ratchet.Budget{MaxSteps: 1, MaxCostUSD: 3} })
		_, err := a.Run(ctx, "add", nil)
		var be *ratchet.BudgetError
		require.ErrorAs(t, err, &be)
		require.Equal(t, ratchet.BudgetSteps, be.Budget)
		return b, a
	}

	t.Run("OverrideWins", func(t *testing.T) {
		t.Parallel()
		b, a := newPaused(t)
		appendResumed(t, b.store, "run-1", &ratchet.Budget{MaxSteps: 2})
		appendResumed(t, b.store, "run-1", &ratchet.Budget{MaxToolCalls: 50})

		st, err := ratchet.LoadState(ctx, b.store, "run-1")
		require.NoError(t, err)
		require.Equal(t, ratchet.StatusRunning, st.Status)
		require.Equal(t, &ratchet.Budget{MaxSteps: 2, MaxToolCalls: 50}, st.Budget, "overrides merge")
		recs, err := b.store.Read(ctx, "run-1", st.Seq)
		require.NoError(t, err)
		rec, err := ratchet.DecodeRecord(recs[0].Seq, recs[0].Data)
		require.NoError(t, err)
		require.Equal(t, "run_resumed step=1 budget=max_tool_calls=50", rec.String())

		// Two steps allowed now: the second call runs, then the limit pauses
		// the run again.
		r, err := a.Resume(ctx, "run-1", nil)
		require.NoError(t, err)
		_, err = r.Wait(ctx)
		var be *ratchet.BudgetError
		require.ErrorAs(t, err, &be)
		require.Equal(t, 2.0, be.Limit)
		require.Equal(t, 2, r.State().Step)

		appendResumed(t, b.store, "run-1", &ratchet.Budget{MaxSteps: 10})
		r, err = a.Resume(ctx, "run-1", nil)
		require.NoError(t, err)
		out, err := r.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, "7", out)
	})

	t.Run("RunOptionsWin", func(t *testing.T) {
		t.Parallel()
		b, a := newPaused(t)
		appendResumed(t, b.store, "run-1", &ratchet.Budget{MaxSteps: 10})
		r, err := a.Resume(ctx, "run-1", &ratchet.RunOptions{Budget: &ratchet.Budget{MaxSteps: 1}})
		require.NoError(t, err)
		_, err = r.Wait(ctx) // finishes step 1's tool call, then pauses
		var be *ratchet.BudgetError
		require.ErrorAs(t, err, &be)
		require.Equal(t, 1.0, be.Limit)
		require.Equal(t, 1, r.State().Step)
	})

	t.Run("SnapshotKeepsOverride", func(t *testing.T) {
		t.Parallel()
		st := ratchet.State{Budget: &ratchet.Budget{MaxSteps: 4}}
		c := st.Clone()
		c.Budget.MaxSteps = 5
		require.Equal(t, 4, st.Budget.MaxSteps, "Clone copies the override")
	})
}
