package ratchetotel_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchetotel"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

type testBundle struct {
	exp   *tracetest.InMemoryExporter
	tp    *sdktrace.TracerProvider
	obs   *ratchetotel.Observer
	clock *ratchettest.Clock
	store *store.Memory
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	return &testBundle{
		exp:   exp,
		tp:    tp,
		obs:   ratchetotel.New(tp, &ratchetotel.Options{ProviderName: "scripted"}),
		clock: ratchettest.NewClock(ratchettest.Epoch()),
		store: store.NewMemory(nil),
	}
}

var addTool = ratchet.NewTool("add", "Adds two integers.", func(ctx context.Context, in struct {
	A int `json:"a"`
	B int `json:"b"`
}) (int, error) {
	return in.A + in.B, nil
})

func (b *testBundle) agent(t *testing.T, m ratchet.Model, mod func(*ratchet.Config)) *ratchet.Agent {
	t.Helper()
	cfg := ratchet.Config{
		Name: "calc", Model: m, ModelName: "gpt-test", Tools: []ratchet.Tool{addTool},
		Store: b.store, Clock: b.clock, NewID: func() string { return "run-1" },
		Random: func() float64 { return 0.5 }, Observer: b.obs,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := ratchet.NewAgent(cfg)
	require.NoError(t, err)
	return a
}

// spans returns the ended spans by name, in the order they ended.
func (b *testBundle) spans() map[string][]tracetest.SpanStub {
	out := map[string][]tracetest.SpanStub{}
	for _, s := range b.exp.GetSpans() {
		out[s.Name] = append(out[s.Name], s)
	}
	return out
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func parentOf(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	require.Equal(t, parent.SpanContext.SpanID(), child.Parent.SpanID(), "%s under %s", child.Name, parent.Name)
	require.Equal(t, parent.SpanContext.TraceID(), child.SpanContext.TraceID())
}

func TestRunSpans(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 503}),
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}),
		ratchettest.Text("3"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Pricing = ratchet.Pricing{"gpt-test": {InputPerMTok: 1e6, OutputPerMTok: 1e6}}
		c.Budget = ratchet.Budget{MaxCostUSD: 1e9}
	})

	// The caller's span becomes the run span's parent.
	ctx, req := b.tp.Tracer("test").Start(context.Background(), "request")
	done := make(chan error)
	go func() { _, err := a.Run(ctx, "1+2", nil); done <- err }()
	require.True(t, b.clock.WaitForWaiters(1, 5*time.Second), "the retry sleeps on the clock")
	b.clock.Advance(time.Minute)
	require.NoError(t, <-done)
	req.End()
	require.Zero(t, b.obs.OpenRuns())

	byName := b.spans()
	require.Len(t, byName["invoke_agent calc"], 1)
	require.Len(t, byName[ratchetotel.SpanStep], 2)
	require.Len(t, byName["chat gpt-test"], 3)
	require.Len(t, byName["execute_tool add"], 1)
	require.Len(t, b.exp.GetSpans(), 8)

	run := byName["invoke_agent calc"][0]
	parentOf(t, run, byName["request"][0])
	ra := attrs(run)
	require.Equal(t, "invoke_agent", ra[ratchetotel.AttrOperationName].AsString())
	require.Equal(t, "calc", ra[ratchetotel.AttrAgentName].AsString())
	require.Equal(t, "run-1", ra[ratchetotel.AttrConversationID].AsString())
	require.Equal(t, "run-1", ra[ratchetotel.AttrRunID].AsString())
	require.Equal(t, "succeeded", ra[ratchetotel.AttrStatus].AsString())
	require.Equal(t, codes.Unset, run.Status.Code)
	require.Equal(t, trace.SpanKindInternal, run.SpanKind)

	step1, step2 := byName[ratchetotel.SpanStep][0], byName[ratchetotel.SpanStep][1]
	parentOf(t, step1, run)
	parentOf(t, step2, run)
	require.Equal(t, int64(1), attrs(step1)[ratchetotel.AttrStep].AsInt64())
	require.Equal(t, int64(2), attrs(step2)[ratchetotel.AttrStep].AsInt64())
	require.False(t, run.EndTime.Before(step2.EndTime), "the run ends after its last step")
	var checkpoints int
	for _, s := range []tracetest.SpanStub{step1, step2} {
		for _, ev := range s.Events {
			if ev.Name == ratchetotel.EventCheckpoint {
				checkpoints++
			}
		}
	}
	require.Positive(t, checkpoints)

	chats := byName["chat gpt-test"]
	failed, ok1, ok2 := chats[0], chats[1], chats[2]
	parentOf(t, failed, step1)
	parentOf(t, ok1, step1)
	parentOf(t, ok2, step2)
	fa := attrs(failed)
	require.Equal(t, "chat", fa[ratchetotel.AttrOperationName].AsString())
	require.Equal(t, "gpt-test", fa[ratchetotel.AttrRequestModel].AsString())
	require.Equal(t, "scripted", fa[ratchetotel.AttrProviderName].AsString())
	require.Equal(t, int64(1), fa[ratchetotel.AttrAttempt].AsInt64())
	require.Positive(t, fa[ratchetotel.AttrRetryDelay].AsFloat64())
	require.Equal(t, "model:transient", fa[ratchetotel.AttrErrorType].AsString())
	require.Equal(t, codes.Error, failed.Status.Code)
	require.Equal(t, trace.SpanKindClient, failed.SpanKind)

	oa := attrs(ok1)
	require.Equal(t, int64(2), oa[ratchetotel.AttrAttempt].AsInt64())
	require.Equal(t, int64(10), oa[ratchetotel.AttrInputTokens].AsInt64())
	require.Equal(t, int64(5), oa[ratchetotel.AttrOutputTokens].AsInt64())
	require.Equal(t, []string{"tool_calls"}, oa[ratchetotel.AttrFinishReasons].AsStringSlice())
	require.InDelta(t, 15.0, oa[ratchetotel.AttrCostUSD].AsFloat64(), 1e-9)
	_, hasErr := oa[ratchetotel.AttrErrorType]
	require.False(t, hasErr)
	require.Equal(t, codes.Unset, ok1.Status.Code)
	require.Equal(t, []string{"stop"}, attrs(ok2)[ratchetotel.AttrFinishReasons].AsStringSlice())

	tool := byName["execute_tool add"][0]
	parentOf(t, tool, step1)
	ta := attrs(tool)
	require.Equal(t, "execute_tool", ta[ratchetotel.AttrOperationName].AsString())
	require.Equal(t, "add", ta[ratchetotel.AttrToolName].AsString())
	require.NotEmpty(t, ta[ratchetotel.AttrToolCallID].AsString())
	require.Equal(t, "run-1/1/0", ta[ratchetotel.AttrIdempotencyKey].AsString())
	require.Equal(t, int64(len(`{"a":1,"b":2}`)), ta[ratchetotel.AttrArgBytes].AsInt64())
	require.Equal(t, int64(1), ta[ratchetotel.AttrResultBytes].AsInt64())
	require.Equal(t, codes.Unset, tool.Status.Code)
}

func TestCallSpanTimes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	at := ratchettest.Epoch().Add(time.Hour)
	ctx := context.Background()
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventRunStarted, Time: at, RunID: "r", Agent: "a"})
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventStepStarted, Time: at, RunID: "r", Agent: "a", Step: 1})
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventModelCall, Time: at.Add(3 * time.Second), RunID: "r", Agent: "a", Step: 1, Model: "m", Latency: 2 * time.Second})
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventToolCall, Time: at.Add(5 * time.Second), RunID: "r", Agent: "a", Step: 1, Tool: "t", Duration: time.Second})
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventBudgetWarning, Time: at.Add(5 * time.Second), RunID: "r", Agent: "a", Step: 1, Budget: ratchet.BudgetSteps, Limit: 5, Used: 4})
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventStepFinished, Time: at.Add(6 * time.Second), RunID: "r", Agent: "a", Step: 1})

	byName := b.spans()
	chat := byName["chat m"][0]
	require.Equal(t, at.Add(time.Second), chat.StartTime)
	require.Equal(t, at.Add(3*time.Second), chat.EndTime)
	tool := byName["execute_tool t"][0]
	require.Equal(t, at.Add(4*time.Second), tool.StartTime)
	require.Equal(t, at.Add(5*time.Second), tool.EndTime)
	step := byName[ratchetotel.SpanStep][0]
	require.Equal(t, at, step.StartTime)
	require.Equal(t, at.Add(6*time.Second), step.EndTime)
	require.Len(t, step.Events, 1)
	require.Equal(t, ratchetotel.EventBudgetWarning, step.Events[0].Name)
	require.Equal(t, 1, b.obs.OpenRuns(), "the run span is still open")
	require.Empty(t, byName["invoke_agent a"])

	require.NoError(t, b.obs.Close())
	require.Zero(t, b.obs.OpenRuns())
	require.Len(t, b.spans()["invoke_agent a"], 1, "Close ends the run span")

	// Events after Close are ignored.
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventRunStarted, Time: at, RunID: "r2", Agent: "a"})
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventModelCall, Time: at, RunID: "r2", Agent: "a"})
	require.Zero(t, b.obs.OpenRuns())
	require.Len(t, b.exp.GetSpans(), 4)
}

func TestShutdownEndsAbandonedStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventRunStarted, RunID: "r", Agent: "a"})
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventStepStarted, RunID: "r", Agent: "a", Step: 1})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, b.obs.Shutdown(cancelled), context.Canceled)
	require.Empty(t, b.exp.GetSpans())

	b = setup(t)
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventRunStarted, RunID: "r", Agent: "a"})
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventStepStarted, RunID: "r", Agent: "a", Step: 1})
	require.NoError(t, b.obs.Shutdown(ctx))
	require.Len(t, b.exp.GetSpans(), 2)
	require.Equal(t, ratchetotel.SpanStep, b.exp.GetSpans()[0].Name, "the step ends before its run")
}

func TestPausedRunSpanEnds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("3"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Budget = ratchet.Budget{MaxSteps: 1} })
	_, err := a.Run(context.Background(), "1+2", nil)
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)
	require.Zero(t, b.obs.OpenRuns())

	runs := b.spans()["invoke_agent calc"]
	require.Len(t, runs, 1, "the paused run's span ended")
	ra := attrs(runs[0])
	require.Equal(t, "paused", ra[ratchetotel.AttrStatus].AsString())
	require.Contains(t, ra[ratchetotel.AttrReason].AsString(), "steps")
	require.Equal(t, codes.Unset, runs[0].Status.Code, "a pause is not an error")

	run, err := a.Resume(context.Background(), "run-1", &ratchet.RunOptions{Budget: &ratchet.Budget{MaxSteps: 5}})
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	require.NoError(t, err)
	require.Zero(t, b.obs.OpenRuns())

	runs = b.spans()["invoke_agent calc"]
	require.Len(t, runs, 2)
	ra = attrs(runs[1])
	require.True(t, ra[ratchetotel.AttrResumed].AsBool())
	require.Equal(t, "succeeded", ra[ratchetotel.AttrStatus].AsString())
	for _, s := range b.spans()[ratchetotel.SpanStep] {
		if s.Parent.SpanID() == runs[1].SpanContext.SpanID() {
			return
		}
	}
	t.Fatal("no step under the resumed run span")
}

func TestFailedRunSpan(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400}))
	a := b.agent(t, m, nil)
	_, err := a.Run(context.Background(), "1+2", nil)
	require.Error(t, err)
	require.Zero(t, b.obs.OpenRuns())

	run := b.spans()["invoke_agent calc"][0]
	require.Equal(t, "failed", attrs(run)[ratchetotel.AttrStatus].AsString())
	require.Equal(t, codes.Error, run.Status.Code)
	require.Equal(t, "model:bad_request", attrs(run)[ratchetotel.AttrErrorType].AsString())
	chat := b.spans()["chat gpt-test"][0]
	require.Equal(t, codes.Error, chat.Status.Code)
}

func TestConcurrentRunsDoNotMix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const runs = 8
	var ids atomic.Int64
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		if len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == ratchet.RoleTool {
			return ratchettest.Text("done")
		}
		return ratchettest.ToolCalls(
			ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`},
			ratchettest.Call{Name: "add", Args: `{"a":3,"b":4}`},
		)
	})
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.NewID = func() string { return fmt.Sprintf("run-%d", ids.Add(1)) }
	})
	var wg sync.WaitGroup
	for range runs {
		wg.Go(func() {
			_, err := a.Run(context.Background(), "add", nil)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Zero(t, b.obs.OpenRuns())

	spans := b.exp.GetSpans()
	require.Len(t, spans, runs*(1+2+2+2)) // run, 2 steps, 2 chats, 2 tools
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	roots := map[string]trace.TraceID{}
	for _, s := range spans {
		id := attrs(s)[ratchetotel.AttrRunID].AsString()
		require.NotEmpty(t, id)
		// Walk up to the run span: same run ID all the way.
		for p := s; p.Parent.IsValid(); {
			p = byID[p.Parent.SpanID()]
			require.Equal(t, id, attrs(p)[ratchetotel.AttrRunID].AsString(), "%s of %s under %s", s.Name, id, p.Name)
		}
		if tid, ok := roots[id]; ok {
			require.Equal(t, tid, s.SpanContext.TraceID())
		}
		roots[id] = s.SpanContext.TraceID()
	}
	require.Len(t, roots, runs)
}

func TestErrorType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&ratchet.ModelError{Kind: ratchet.ModelTransient}, "model:transient"},
		{fmt.Errorf("wrapped: %w", &ratchet.ToolError{Kind: ratchet.ToolErrorPanic}), "tool:panic"},
		{&ratchet.BudgetError{Budget: ratchet.BudgetSteps}, "budget:steps"},
		{&ratchet.ParseError{Kind: ratchet.ParseArguments}, "parse:arguments"},
		{context.Canceled, "cancelled"},
		{context.DeadlineExceeded, "deadline"},
		{errors.New("boom"), ratchetotel.ErrorTypeOther},
	} {
		require.Equal(t, tc.want, ratchetotel.ErrorType(tc.err), "%v", tc.err)
	}
}

func TestNewNilProviderPanics(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() { ratchetotel.New(nil, nil) })
}

func TestCancelledRunSpanEnds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	m := ratchettest.NewModelFunc(t, func(context.Context, int, *ratchet.Request) ratchettest.Reply {
		if calls.Add(1) > 1 {
			return ratchettest.Text("3")
		}
		cancel()
		return ratchettest.Fail(context.Canceled)
	})
	a := b.agent(t, m, nil)
	_, err := a.Run(ctx, "1+2", nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, b.obs.OpenRuns(), "no span is left open for a run nobody drives")

	byName := b.spans()
	run := byName["invoke_agent calc"][0]
	require.Equal(t, "running", attrs(run)[ratchetotel.AttrStatus].AsString())
	require.Equal(t, "cancelled", attrs(run)[ratchetotel.AttrErrorType].AsString())
	require.Equal(t, codes.Error, run.Status.Code)
	step := byName[ratchetotel.SpanStep][0]
	require.Equal(t, codes.Error, step.Status.Code)
	parentOf(t, step, run)

	// Driving the same run again opens a new run span.
	run2, err := a.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	_, err = run2.Step(context.Background())
	require.NoError(t, err)
	require.Zero(t, b.obs.OpenRuns())
	runs := b.spans()["invoke_agent calc"]
	require.Len(t, runs, 2)
	require.Equal(t, "succeeded", attrs(runs[1])[ratchetotel.AttrStatus].AsString())
}

func TestResumeWithoutStepLeavesNoSpan(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.agent(t, ratchettest.NewModel(t, ratchettest.Text("3")), nil)
	_, err := a.Run(context.Background(), "1+2", nil)
	require.NoError(t, err)
	spans := len(b.exp.GetSpans())

	run, err := a.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "3", out)
	require.Zero(t, b.obs.OpenRuns(), "a run loaded but not stepped keeps no span open")
	require.Len(t, b.exp.GetSpans(), spans)
}

func TestRunEndedBetweenSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventRunResumed, RunID: "r", Agent: "a", Step: 3})
	require.Zero(t, b.obs.OpenRuns())
	b.obs.Observe(ctx, ratchet.Event{Kind: ratchet.EventRunEnded, RunID: "r", Agent: "a", Step: 3,
		Status: ratchet.StatusCancelled, Err: context.Canceled})
	require.Zero(t, b.obs.OpenRuns())
	spans := b.exp.GetSpans()
	require.Len(t, spans, 1)
	require.Equal(t, "invoke_agent a", spans[0].Name)
	require.Equal(t, "cancelled", attrs(spans[0])[ratchetotel.AttrStatus].AsString())
	require.Equal(t, "cancelled", attrs(spans[0])[ratchetotel.AttrErrorType].AsString())
	require.Equal(t, codes.Error, spans[0].Status.Code)
}

func TestSchedulerRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sched, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: b.store, Clock: b.clock, Owner: "sched-1"})
	require.NoError(t, err)
	var ids atomic.Int64
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		if req.Messages[len(req.Messages)-1].Role == ratchet.RoleTool {
			return ratchettest.Text("done")
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`})
	})
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.NewID = func() string { return fmt.Sprintf("run-%d", ids.Add(1)) }
	})
	require.NoError(t, sched.Register(a, nil))
	ctx := context.Background()
	require.NoError(t, sched.Start(ctx))
	t.Cleanup(func() { _ = sched.StopAndCancel(ctx) })
	const runs = 5
	for range runs {
		_, err := sched.StartRun(ctx, "calc", "add", nil)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		return len(b.spans()["invoke_agent calc"]) == runs && b.obs.OpenRuns() == 0
	}, 10*time.Second, time.Millisecond)
	for _, s := range b.spans()["invoke_agent calc"] {
		require.Equal(t, "succeeded", attrs(s)[ratchetotel.AttrStatus].AsString(), "one span per run, start to end")
	}
	require.Len(t, b.spans()[ratchetotel.SpanStep], 2*runs)
}

// The Observer is a ratchet.CallObserver: a call's span is open while the
// call runs and is the current span of the call's context, so the spans a
// model client (an instrumented HTTP client, say) or a tool start nest
// under chat and execute_tool.
func TestCallSpansAreParentsOfTheCallsOwnSpans(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tracer := b.tp.Tracer("app")
	fetch := ratchet.NewTool("fetch", "Fetches.", func(ctx context.Context, in struct{}) (string, error) {
		_, span := tracer.Start(ctx, "GET /page")
		span.End()
		return "page", nil
	})
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		_, span := tracer.Start(ctx, fmt.Sprint("POST /v1/chat/completions ", call))
		span.End()
		if call == 0 {
			return ratchettest.ToolCalls(ratchettest.Call{Name: "fetch", Args: `{}`})
		}
		return ratchettest.Text("done")
	})
	a := b.agent(t, m, func(c *ratchet.Config) { c.Tools = []ratchet.Tool{fetch} })
	_, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)

	byName := b.spans()
	chats, tool := byName["chat gpt-test"], byName["execute_tool fetch"]
	require.Len(t, chats, 2)
	require.Len(t, tool, 1)
	parentOf(t, byName["GET /page"][0], tool[0])
	parentOf(t, byName["POST /v1/chat/completions 0"][0], chats[0])
	parentOf(t, byName["POST /v1/chat/completions 1"][0], chats[1])
	steps := byName[ratchetotel.SpanStep]
	parentOf(t, chats[0], steps[0])
	parentOf(t, tool[0], steps[0])
	// Started before the call, ended after it, with what the call's
	// event added.
	require.False(t, tool[0].StartTime.After(byName["GET /page"][0].StartTime))
	require.Equal(t, int64(len("page")), attrs(tool[0])[ratchetotel.AttrResultBytes].AsInt64())
	require.Equal(t, int64(2), attrs(tool[0])[ratchetotel.AttrArgBytes].AsInt64())
	require.Equal(t, []string{"stop"}, attrs(chats[1])[ratchetotel.AttrFinishReasons].AsStringSlice())
	require.Equal(t, "gpt-test", attrs(chats[1])[ratchetotel.AttrRequestModel].AsString())
}

// A tool that runs another agent with the same Observer: the inner run's
// spans nest under the outer execute_tool span, and the inner calls' events
// end their own spans, not the outer call's.
func TestNestedRunsUnderAToolSpan(t *testing.T) {
	t.Parallel()
	b := setup(t)
	inner := b.agent(t, ratchettest.NewModel(t, ratchettest.Text("inner done")), func(c *ratchet.Config) {
		c.Name, c.Tools, c.Store, c.NewID = "inner", nil, store.NewMemory(nil), func() string { return "run-2" }
	})
	delegate := ratchet.NewTool("delegate", "Runs the inner agent.", func(ctx context.Context, in struct{}) (string, error) {
		return inner.Run(ctx, "sub-task", nil)
	})
	outer := b.agent(t, ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "delegate", Args: `{}`}), ratchettest.Text("done")),
		func(c *ratchet.Config) { c.Tools = []ratchet.Tool{delegate} })
	out, err := outer.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "done", out)
	require.Zero(t, b.obs.OpenRuns())

	byName := b.spans()
	tool := byName["execute_tool delegate"]
	require.Len(t, tool, 1)
	require.Equal(t, int64(len("inner done")), attrs(tool[0])[ratchetotel.AttrResultBytes].AsInt64())
	innerRun := byName["invoke_agent inner"]
	require.Len(t, innerRun, 1)
	parentOf(t, innerRun[0], tool[0])
	require.Len(t, byName["chat gpt-test"], 3) // outer 2, inner 1
	for _, s := range byName["chat gpt-test"] {
		if attrs(s)[ratchetotel.AttrRunID].AsString() == "run-2" {
			require.Equal(t, innerRun[0].SpanContext.TraceID(), s.SpanContext.TraceID())
			require.NotEqual(t, tool[0].SpanContext.SpanID(), s.SpanContext.SpanID())
		}
	}
	require.False(t, tool[0].EndTime.Before(innerRun[0].EndTime), "the tool span ends after the run it ran")
}
