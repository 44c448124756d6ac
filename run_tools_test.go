package ratchet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
	"github.com/stretchr/testify/require"
)

// failing returns a tool named name that returns err.
func failing(name string, err error, opts ...ratchet.ToolOption) ratchet.Tool {
	return ratchet.NewTool(name, "Fails.", func(ctx context.Context, in struct{}) (string, error) {
		return "", err
	}, opts...)
}

// blocking returns a tool that waits for its context and reports through
// cancelled when it was cancelled.
func blocking(name string, cancelled *atomic.Bool, opts ...ratchet.ToolOption) ratchet.Tool {
	return ratchet.NewTool(name, "Blocks until cancelled.", func(ctx context.Context, in struct{}) (string, error) {
		<-ctx.Done()
		cancelled.Store(true)
		return "", ctx.Err()
	}, opts...)
}

func TestToolErrorReportedByDefault(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = append(b.tools, failing("bad", errors.New("disk full")))
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "bad", Args: `{}`}, ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, nil)
	out, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	msgs := m.Requests()[1].Messages
	require.Equal(t, "error: disk full", msgs[3].Content)
	require.True(t, msgs[3].IsError)
	require.Equal(t, "3", msgs[4].Content)
	fin := ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished)
	require.Len(t, fin, 2)
	for _, f := range fin { // parallel calls finish in any order
		if f.Call.Index == 0 {
			require.Equal(t, "error", f.Result.Error)
		} else {
			require.Empty(t, f.Result.Error)
		}
	}
}

func TestToolErrorFailCancelsSiblings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var cancelled atomic.Bool
	var lateRan atomic.Bool
	started := make(chan struct{})
	b.tools = []ratchet.Tool{
		ratchet.NewTool("wait", "Blocks until cancelled.", func(ctx context.Context, in struct{}) (string, error) {
			close(started)
			<-ctx.Done()
			cancelled.Store(true)
			return "", ctx.Err()
		}),
		ratchet.NewTool("bad", "Fails once wait runs.", func(ctx context.Context, in struct{}) (string, error) {
			<-started
			return "", errors.New("corrupt input")
		}, ratchet.WithOnError(ratchet.ToolErrorFail)),
		ratchet.NewTool("late", "Runs last.", func(ctx context.Context, in struct{}) (string, error) {
			lateRan.Store(true)
			return "ran", nil
		}),
	}
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(
		ratchettest.Call{Name: "wait", Args: `{}`},
		ratchettest.Call{Name: "bad", Args: `{}`},
		ratchettest.Call{Name: "late", Args: `{}`},
	))
	a := b.agent(t, m, func(c *ratchet.Config) { c.MaxParallelTools = 2 })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	st, err := run.Step(context.Background())
	te, ok := errors.AsType[*ratchet.ToolError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "bad", te.Tool)
	require.Equal(t, ratchet.ToolErrorReturned, te.Kind)
	require.Equal(t, "call_2", te.CallID)
	require.Equal(t, 1, te.Attempt)
	require.Equal(t, ratchet.StatusFailed, st.Status)
	require.True(t, cancelled.Load(), "the sibling's context was not cancelled")
	require.False(t, lateRan.Load(), "a call started after the run failed")

	recs := logOf(t, b.store, "run-1")
	byIndex := map[int]string{}
	for _, r := range ofKind(recs, ratchet.RecToolFinished) {
		byIndex[r.Call.Index] = r.Result.Error
	}
	require.Equal(t, map[int]string{0: "cancelled", 1: "error", 2: "cancelled"}, byIndex)
	require.Equal(t, ratchet.RecRunFailed, recs[len(recs)-1].Kind)
	require.Equal(t, "tool:error", recs[len(recs)-1].Error.Kind)
	requireFolds(t, b.store, run)
}

func TestToolErrorFailAgentPolicy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = []ratchet.Tool{failing("bad", errors.New("nope"))}
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "bad", Args: `{}`}))
	a := b.agent(t, m, func(c *ratchet.Config) { c.OnToolError = ratchet.ToolErrorFail })
	_, err := a.Run(context.Background(), "go", nil)
	require.ErrorIs(t, err, ratchet.ErrToolFailed)
	info, err := b.store.Get(context.Background(), "run-1")
	require.NoError(t, err)
	require.Equal(t, "failed", info.Status)
}

func TestToolRetrySleepCancelledBySiblingFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var failNow = make(chan struct{})
	b.tools = []ratchet.Tool{
		failing("flaky", errors.New("503"), ratchet.WithRetry(ratchet.RetryPolicy{Jitter: -1})),
		ratchet.NewTool("bad", "Fails the run once told to.", func(ctx context.Context, in struct{}) (string, error) {
			<-failNow
			return "", errors.New("fatal")
		}, ratchet.WithOnError(ratchet.ToolErrorFail)),
	}
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "flaky", Args: `{}`}, ratchettest.Call{Name: "bad", Args: `{}`}))
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ch := stepAsync(context.Background(), run)
	require.True(t, b.clock.WaitForWaiters(1, 5*time.Second)) // flaky sleeps before its retry
	close(failNow)
	res := <-ch
	require.ErrorIs(t, res.err, ratchet.ErrToolFailed)
	byIndex := map[int]string{}
	for _, r := range ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished) {
		byIndex[r.Call.Index] = r.Result.Error
	}
	require.Equal(t, map[int]string{0: "cancelled", 1: "error"}, byIndex)
	requireFolds(t, b.store, run)
}

func TestToolErrorPauseThenResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var calls atomic.Int64
	b.tools = []ratchet.Tool{
		ratchet.NewTool("deploy", "Fails once.", func(ctx context.Context, in struct{}) (string, error) {
			if calls.Add(1) == 1 {
				return "", errors.New("cluster locked")
			}
			return "deployed", nil
		}, ratchet.WithOnError(ratchet.ToolErrorPause)),
		b.tools[0],
	}
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "deploy", Args: `{}`}, ratchettest.Call{Name: "add", Args: `{"a":1,"b":1}`}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	st, err := run.Step(context.Background())
	te, ok := errors.AsType[*ratchet.ToolError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, "deploy", te.Tool)
	require.Equal(t, ratchet.StatusPaused, st.Status)
	require.Equal(t, int64(1), b.adds.Load(), "the sibling ran to its end")
	info, err := b.store.Get(context.Background(), "run-1")
	require.NoError(t, err)
	require.Equal(t, "paused", info.Status)
	require.Len(t, ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFailed), 1)

	run2, err := a.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	st, err = run2.Step(context.Background())
	require.NoError(t, err)
	require.True(t, st.Resumed)
	require.Equal(t, ratchet.RecRunResumed, st.Records[0].Kind)
	require.Equal(t, "deployed", st.Results()[0].Content)
	require.Equal(t, 1, m.Calls(), "the model was not asked again")
	require.Equal(t, int64(1), b.adds.Load(), "the finished sibling did not run again")
	out, err := run2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	requireFolds(t, b.store, run2)
}

func TestToolPanicRecovered(t *testing.T) {
	t.Parallel()
	for _, action := range []ratchet.ToolErrorAction{ratchet.ToolErrorReport, ratchet.ToolErrorFail} {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.tools = []ratchet.Tool{ratchet.NewTool("boom", "Panics.", func(ctx context.Context, in struct{}) (string, error) {
				var m map[string]int
				//lint:ignore SA5000 the tool must panic with a runtime error, not a value it chose.
				m["x"] = 1 // nil map write
				return "", nil
			}, ratchet.WithOnError(action))}
			m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "boom", Args: `{}`}), ratchettest.Text("survived"))
			a := b.agent(t, m, nil)
			run, err := a.Start(context.Background(), "go", nil)
			require.NoError(t, err)
			st, err := run.Step(context.Background())
			res := ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished)[0].Result
			require.Equal(t, "panic", res.Error)
			require.Contains(t, res.Content, "assignment to entry in nil map")
			if action == ratchet.ToolErrorReport {
				require.NoError(t, err)
				out, err := run.Wait(context.Background())
				require.NoError(t, err)
				require.Equal(t, "survived", out)
				return
			}
			te, ok := errors.AsType[*ratchet.ToolError](err)
			require.True(t, ok, "%v", err)
			require.Equal(t, ratchet.ToolErrorPanic, te.Kind)
			require.Contains(t, string(te.Stack), "run_tools_test.go")
			require.Equal(t, ratchet.StatusFailed, st.Status)
		})
	}
}

func TestToolTimeout(t *testing.T) {
	t.Parallel()
	for _, action := range []ratchet.ToolErrorAction{ratchet.ToolErrorReport, ratchet.ToolErrorFail} {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			var cancelled atomic.Bool
			b.tools = []ratchet.Tool{blocking("slow", &cancelled, ratchet.WithTimeout(20*time.Millisecond), ratchet.WithOnError(action))}
			m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "slow", Args: `{}`}), ratchettest.Text("ok"))
			a := b.agent(t, m, nil)
			run, err := a.Start(context.Background(), "go", nil)
			require.NoError(t, err)
			st, err := run.Step(context.Background())
			require.True(t, cancelled.Load(), "the tool's context was not cancelled")
			res := ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished)[0].Result
			require.Equal(t, "timeout", res.Error)
			if action == ratchet.ToolErrorReport {
				require.NoError(t, err)
				// Not idempotent: it may have acted.
				require.Equal(t, "error: the tool did not finish within its timeout; its outcome is unknown: it may have taken effect, or may still take effect. Check before calling it again", res.Content)
				return
			}
			te, ok := errors.AsType[*ratchet.ToolError](err)
			require.True(t, ok, "%v", err)
			require.Equal(t, ratchet.ToolErrorTimeout, te.Kind)
			require.ErrorIs(t, te, context.DeadlineExceeded)
			require.Equal(t, ratchet.StatusFailed, st.Status)
		})
	}
}

func TestAgentToolTimeoutUnlimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("3"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.ToolTimeout = ratchet.Unlimited })
	_, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "3", m.Requests()[1].Messages[3].Content)
}

// An agent-wide OnToolError of retry retries the idempotent tools only: a
// failed call of another tool may have had its effect, so it is reported,
// not run again (DESIGN: policies can retry idempotent tools).
func TestAgentWideRetryRetriesIdempotentToolsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var charges, fetches atomic.Int32
	b.tools = []ratchet.Tool{
		ratchet.NewTool("charge", "Charges a card.", func(ctx context.Context, in struct{}) (string, error) {
			charges.Add(1)
			return "", errors.New("gateway timeout")
		}),
		ratchet.NewTool("fetch", "Fetches a page.", func(ctx context.Context, in struct{}) (string, error) {
			if fetches.Add(1) == 1 {
				return "", errors.New("503")
			}
			return "page", nil
		}, ratchet.Idempotent()),
	}
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "charge", Args: `{}`}, ratchettest.Call{Name: "fetch", Args: `{}`}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.OnToolError = ratchet.ToolErrorRetry
		c.ToolRetry = ratchet.RetryPolicy{InitialDelay: time.Nanosecond, Jitter: -1}
		c.Clock = ratchet.SystemClock()
	})
	out, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.EqualValues(t, 1, charges.Load(), "a non-idempotent tool runs once")
	require.EqualValues(t, 2, fetches.Load(), "an idempotent tool is retried")
	msgs := m.Requests()[1].Messages
	require.Equal(t, "error: gateway timeout", msgs[3].Content)
	require.True(t, msgs[3].IsError)
	require.Equal(t, "page", msgs[4].Content)
	require.Len(t, ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFailed), 1) // fetch's first attempt
}

// A tool that asks to be retried must be idempotent, and actions must be
// known ones: NewAgent says which tool is wrong.
func TestToolErrorActionsChecked(t *testing.T) {
	t.Parallel()
	m := ratchettest.NewModel(t)
	retry := ratchet.WithOnError(ratchet.ToolErrorRetry)
	for _, tc := range []struct {
		name    string
		tool    ratchet.Tool
		onError ratchet.ToolErrorAction
		want    string // "" for no error
	}{
		{"retry, not idempotent", failing("charge", nil, retry), "", `tool "charge": OnError "retry" runs the call again: the tool must be idempotent`},
		{"retry, idempotent", failing("fetch", nil, retry, ratchet.Idempotent()), "", ""},
		{"WithRetry", failing("fetch", nil, ratchet.WithRetry(ratchet.RetryPolicy{})), "", ""},
		{"unknown tool action", failing("fetch", nil, ratchet.WithOnError("retyr")), "", `tool "fetch": unknown OnError action "retyr"`},
		{"unknown agent action", failing("fetch", nil), "retyr", `unknown OnToolError action "retyr"`},
		{"agent retry, not idempotent", failing("charge", nil), ratchet.ToolErrorRetry, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ratchet.NewAgent(ratchet.Config{Name: "a", Model: m, Tools: []ratchet.Tool{tc.tool}, OnToolError: tc.onError})
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// stubborn returns a tool that ignores its context: it returns only once
// release is closed (the test closes it when it ends).
func stubborn(t *testing.T, name string, opts ...ratchet.ToolOption) (ratchet.Tool, func()) {
	ch := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return ratchet.NewTool(name, "Ignores its context.", func(context.Context, struct{}) (string, error) {
		<-ch
		return "late", nil
	}, opts...), release
}

// events collects observer events.
type events struct {
	mu sync.Mutex
	ev []ratchet.Event
}

func (e *events) Observe(_ context.Context, ev ratchet.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *events) of(k ratchet.EventKind) []ratchet.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []ratchet.Event
	for _, ev := range e.ev {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// within runs f and fails the test if it does not return within d (the
// point is that it returns, not how fast).
func within[T any](t *testing.T, d time.Duration, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("did not return within %s", d)
		panic("unreachable")
	}
}

// TestToolIgnoringItsContextTimesOut: a tool that ignores its context is
// abandoned once its timeout and the grace pass; its call ends as a
// timeout whose outcome is unknown, and its late result is reported to
// the observer, not recorded.
func TestToolIgnoringItsContextTimesOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tool, release := stubborn(t, "pay", ratchet.WithTimeout(100*time.Millisecond))
	b.tools = append(b.tools, tool)
	obs := new(events)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "pay", Args: `{}`}), ratchettest.Text("ok"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Observer = obs })
	ctx := context.Background()
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	type res struct {
		st  ratchet.Step
		err error
	}
	r := within(t, 5*time.Second, func() res { st, err := run.Step(ctx); return res{st, err} })
	require.NoError(t, r.err, "reported to the model")
	fin := ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished)
	require.Len(t, fin, 1)
	require.Equal(t, string(ratchet.ToolErrorTimeout), fin[0].Result.Error)
	require.Contains(t, fin[0].Result.Content, "outcome is unknown")

	release()
	require.Eventually(t, func() bool { return len(obs.of(ratchet.EventCallAbandoned)) == 1 }, 5*time.Second, time.Millisecond)
	late := obs.of(ratchet.EventCallAbandoned)[0]
	require.Equal(t, "pay", late.Tool)
	require.Equal(t, len("late"), late.ResultBytes)
	out, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Len(t, ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished), 1, "the late result is not recorded")
}

// TestStepTimeoutHoldsWhenAToolIgnoresItsContext: the step's timeout
// pauses the run on time although its tool call does not return.
func TestStepTimeoutHoldsWhenAToolIgnoresItsContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tool, _ := stubborn(t, "pay", ratchet.WithTimeout(time.Hour))
	b.tools = append(b.tools, tool)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "pay", Args: `{}`}), ratchettest.Text("ok"))
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Clock = ratchet.SystemClock()
		c.Budget.StepTimeout = 200 * time.Millisecond
	})
	ctx := context.Background()
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	err = within(t, 5*time.Second, func() error { _, err := run.Step(ctx); return err })
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)
	require.Equal(t, ratchet.StatusPaused, run.Status())
	recs := logOf(t, b.store, "run-1")
	require.Len(t, ofKind(recs, ratchet.RecToolStarted), 1)
	require.Empty(t, ofKind(recs, ratchet.RecToolFinished), "left open: a resume applies its unknown-outcome policy")
}

// TestSchedulerStopHoldsWhenAToolIgnoresItsContext: Stop with a short
// deadline returns soon although a step's tool call does not return.
func TestSchedulerStopHoldsWhenAToolIgnoresItsContext(t *testing.T) {
	t.Parallel()
	tool, _ := stubborn(t, "pay", ratchet.WithTimeout(time.Hour))
	st := store.NewMemory(nil)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "pay", Args: `{}`}), ratchettest.Text("ok"))
	a, err := ratchet.NewAgent(ratchet.Config{Name: "stubborn", Model: m, Store: st, Tools: []ratchet.Tool{tool}})
	require.NoError(t, err)
	s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: st})
	require.NoError(t, err)
	require.NoError(t, s.Register(a, nil))
	ctx := context.Background()
	require.NoError(t, s.Start(ctx))
	id, err := s.StartRun(ctx, "stubborn", "go", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := st.Get(ctx, id)
		return err == nil && info.LastSeq >= 2 // model_responded and tool_started
	}, 5*time.Second, time.Millisecond)
	err = within(t, 5*time.Second, func() error {
		stop, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		return s.Stop(stop)
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// cancelOnStart is a store that calls cancel during the append of a batch
// holding a tool_started record, as a caller's deadline may end while the
// batch is being persisted.
type cancelOnStart struct {
	*store.Memory
	cancel context.CancelFunc
}

func (s cancelOnStart) Append(ctx context.Context, b store.Batch) error {
	for i, d := range b.Records {
		if rec, err := ratchet.DecodeRecord(b.Expected+uint64(i)+1, d); err == nil && rec.Kind == ratchet.RecToolStarted {
			s.cancel()
		}
	}
	return s.Memory.Append(ctx, b)
}

// TestCallCancelledBeforeItStartedIsNotUnknown: when the step's context
// ends while the response batch with its lone call's tool_started is being
// persisted, the call is recorded as not started, never ran, and runs
// normally on resume: the model is not told its outcome is unknown.
func TestCallCancelledBeforeItStartedIsNotUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pays int
	b.tools = append(b.tools, ratchet.NewTool("pay", "Pays.", func(context.Context, struct{}) (string, error) {
		pays++
		return "paid", nil
	}))
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "pay", Args: `{}`}), ratchettest.Text("ok"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Store = cancelOnStart{b.store, cancel} })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Step(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, pays, "the call did not start")
	require.Equal(t, []ratchet.RecordKind{ratchet.RecRunStarted, ratchet.RecModelResponded, ratchet.RecToolStarted, ratchet.RecToolFailed},
		kindsOf(logOf(t, b.store, "run-1")))

	a2 := b.agent(t, m, nil)
	r2, err := a2.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	out, err := r2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Equal(t, 1, pays, "run once, on resume")
	fin := ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished)
	require.Len(t, fin, 1)
	require.Equal(t, "paid", fin[0].Result.Content)
}

func echoCalls(n int) []ratchettest.Call {
	calls := make([]ratchettest.Call, n)
	for i := range calls {
		calls[i] = ratchettest.Call{Name: "echo", Args: `{"text":"x"}`}
	}
	return calls
}

// TestTooManyCallsGetARepairTurn: a response with more calls than
// ParsePolicy.MaxCallsPerResponse runs none of them, is persisted without
// them, and gets a repair turn; the next response goes on as usual.
func TestTooManyCallsGetARepairTurn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(echoCalls(10_000)...), ratchettest.ToolCalls(echoCalls(2)...), ratchettest.Text("ok"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Parse.MaxCallsPerResponse = 8 })
	ctx := context.Background()
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	st, err := run.Step(ctx)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusRunning, st.Status)
	recs := logOf(t, b.store, "run-1")
	require.Equal(t, []ratchet.RecordKind{ratchet.RecRunStarted, ratchet.RecModelResponded, ratchet.RecRepair}, kindsOf(recs))
	require.True(t, recs[1].Repair)
	require.Empty(t, recs[1].Response.Message.ToolCalls, "not persisted")
	require.Contains(t, recs[2].Message.Content, "10000 tool calls")
	out, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Len(t, ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished), 2)

	// Beyond the repairs, a ParseError.
	m2 := ratchettest.NewModelFunc(t, func(context.Context, int, *ratchet.Request) ratchettest.Reply {
		return ratchettest.ToolCalls(echoCalls(9)...)
	})
	b2 := setup(t)
	a2 := b2.agent(t, m2, func(c *ratchet.Config) { c.Parse.MaxCallsPerResponse = 8 })
	_, err = a2.Run(ctx, "go", nil)
	pe, ok := err.(*ratchet.ParseError)
	require.True(t, ok, "%T %v", err, err)
	require.Equal(t, ratchet.ParseTooManyCalls, pe.Kind)
}

// TestManyCallsCostLinearMemory: below the cap, a response's calls cost
// memory in proportion to their number (it was quadratic: every snapshot
// taken while the calls ran copied them all). Not parallel: it reads the
// process's allocation counter.
func TestManyCallsCostLinearMemory(t *testing.T) {
	alloc := func(n int) uint64 {
		m := ratchettest.NewModel(t, ratchettest.ToolCalls(echoCalls(n)...), ratchettest.Text("ok"))
		echo := ratchet.NewTool("echo", "Echoes.", func(_ context.Context, in struct {
			Text string `json:"text"`
		}) (string, error) {
			return in.Text, nil
		})
		a, err := ratchet.NewAgent(ratchet.Config{Name: "many", Model: m, Store: store.NewMemory(nil), Tools: []ratchet.Tool{echo},
			Budget: ratchet.Budget{MaxToolCalls: 1 << 20}, Parse: ratchet.ParsePolicy{MaxCallsPerResponse: 1 << 20}})
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err = a.Run(context.Background(), "go", nil)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, big := alloc(1000), alloc(4000)
	t.Logf("1000 calls: %d KiB, 4000 calls: %d KiB", small>>10, big>>10)
	require.Less(t, big, 6*small, "4x the calls cost %.1fx the memory", float64(big)/float64(small))
}

// TestLargeToolResultsKeepOnlyTheCap: a tool result far over its cap costs
// about the cap, not the result's size, when it is a string or raw JSON
// (a typed result is encoded whole by encoding/json first, so it is only
// checked to be cut). Not parallel: it reads the process's allocation counter.
func TestLargeToolResultsKeepOnlyTheCap(t *testing.T) {
	const size, limit = 64 << 20, 64 << 10
	big := strings.Repeat("x", size)
	raw := json.RawMessage(`"` + big + `"`)
	type out struct {
		Text string `json:"text"`
	}
	typed := out{Text: big}
	run := func(tool ratchet.Tool) (uint64, string) {
		m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: tool.Spec().Name, Args: `{}`}), ratchettest.Text("ok"))
		st := store.NewMemory(nil)
		a, err := ratchet.NewAgent(ratchet.Config{Name: "big", Model: m, Store: st, Tools: []ratchet.Tool{tool}, MaxToolOutputBytes: limit})
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r, err := a.Start(context.Background(), "go", nil)
		require.NoError(t, err)
		_, err = r.Wait(context.Background())
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		msgs := r.State().Messages
		return after.TotalAlloc - before.TotalAlloc, msgs[len(msgs)-2].Content
	}
	for name, tool := range map[string]ratchet.Tool{
		"string": ratchet.NewTool("s", "Big.", func(context.Context, struct{}) (string, error) { return big, nil }),
		"raw":    ratchet.NewTool("r", "Big.", func(context.Context, struct{}) (json.RawMessage, error) { return raw, nil }),
		"typed":  ratchet.NewTool("t", "Big.", func(context.Context, struct{}) (out, error) { return typed, nil }),
	} {
		alloc, res := run(tool)
		t.Logf("%s: %d KiB allocated", name, alloc>>10)
		require.Contains(t, res, ratchet.TruncationMarker)
		require.LessOrEqual(t, len(res), limit+100)
		if name == "typed" {
			// Not bounded (encoding/json encodes it whole), only cut.
			require.Contains(t, res, fmt.Sprintf("of %d bytes]", size+len(`{"text":""}`)))
			continue
		}
		require.Less(t, alloc, uint64(4<<20), name)
	}
}
