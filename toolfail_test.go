package ratchet_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
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
			require.Contains(t, string(te.Stack), "toolfail_test.go")
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
