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

type stepResult struct {
	step ratchet.Step
	err  error
}

// stepAsync runs one Step in a goroutine.
func stepAsync(ctx context.Context, run *ratchet.Run) <-chan stepResult {
	ch := make(chan stepResult, 1)
	go func() {
		st, err := run.Step(ctx)
		ch <- stepResult{st, err}
	}()
	return ch
}

// advanceWhenSleeping waits until the code under test sleeps on c, then
// moves c forward by d.
func advanceWhenSleeping(t *testing.T, c *ratchettest.Clock, d time.Duration) {
	t.Helper()
	require.True(t, c.WaitForWaiters(1, 5*time.Second), "nothing is sleeping on the clock")
	c.Advance(d)
}

func TestModelRetryAfterHonouredAndCapped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelRateLimited, StatusCode: 429, RetryAfter: 7 * time.Second}),
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelRateLimited, StatusCode: 429, RetryAfter: time.Hour}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) { c.Retry.MaxRetryAfter = 2 * time.Minute })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ch := stepAsync(context.Background(), run)
	advanceWhenSleeping(t, b.clock, 7*time.Second-time.Nanosecond)
	require.Equal(t, 1, m.Calls()) // not yet
	b.clock.Advance(time.Nanosecond)
	advanceWhenSleeping(t, b.clock, 2*time.Minute)
	res := <-ch
	require.NoError(t, res.err)
	require.Equal(t, ratchet.StatusSucceeded, res.step.Status)
	require.Equal(t, 3, res.step.Attempts)
	require.Equal(t, 3, m.Calls())

	failed := ofKind(logOf(t, b.store, "run-1"), ratchet.RecModelFailed)
	require.Len(t, failed, 2)
	require.Equal(t, 7*time.Second, failed[0].Delay)
	require.Equal(t, 2*time.Minute, failed[1].Delay) // capped
	require.Equal(t, "model:rate_limited", failed[0].Error.Kind)
	require.Equal(t, []int{1, 2}, []int{failed[0].Attempt, failed[1].Attempt})
	require.Contains(t, res.step.String(), "model_failed step=1 attempt=1 delay=7s")
	requireFolds(t, b.store, run)
}

func TestModel5xxRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 502}),
		ratchettest.Fail(errors.New("connection reset by peer")), // unclassified: transient
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 503}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, nil) // Random is 0.5: full jitter halves each delay
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ch := stepAsync(context.Background(), run)
	for _, d := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		advanceWhenSleeping(t, b.clock, d)
	}
	res := <-ch
	require.NoError(t, res.err)
	require.Equal(t, ratchet.StatusSucceeded, run.Status())

	recs := logOf(t, b.store, "run-1")
	failed := ofKind(recs, ratchet.RecModelFailed)
	require.Len(t, failed, 3)
	var delays []time.Duration
	for _, f := range failed {
		delays = append(delays, f.Delay)
		require.Equal(t, "model:transient", f.Error.Kind)
	}
	require.Equal(t, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}, delays)
	resp := ofKind(recs, ratchet.RecModelResponded)
	require.Len(t, resp, 1)
	require.Equal(t, 4, resp[0].Attempt)
	requireFolds(t, b.store, run)
}

func TestModelErrorsNotRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		status ratchet.Status
		kind   string
	}{
		{"400", &ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400}, ratchet.StatusFailed, "model:bad_request"},
		{"401", &ratchet.ModelError{Kind: ratchet.ModelAuth, StatusCode: 401}, ratchet.StatusPaused, "model:auth"},
		{"403", &ratchet.ModelError{Kind: ratchet.ModelAuth, StatusCode: 403}, ratchet.StatusPaused, "model:auth"},
		{"context length", &ratchet.ModelError{Kind: ratchet.ModelContextLength, StatusCode: 400}, ratchet.StatusFailed, "model:context_length"},
		{"content filter", &ratchet.ModelError{Kind: ratchet.ModelContentFilter, StatusCode: 400}, ratchet.StatusFailed, "model:content_filter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			m := ratchettest.NewModel(t, ratchettest.Fail(tc.err))
			a := b.agent(t, m, nil)
			run, err := a.Start(context.Background(), "go", nil)
			require.NoError(t, err)
			st, err := run.Step(context.Background())
			me, ok := errors.AsType[*ratchet.ModelError](err)
			require.True(t, ok, "%v", err)
			require.Equal(t, tc.err, me)
			require.Equal(t, tc.status, st.Status)
			require.Equal(t, 1, m.Calls())
			require.Zero(t, b.clock.Waiters())

			recs := logOf(t, b.store, "run-1")
			failed := ofKind(recs, ratchet.RecModelFailed)
			require.Len(t, failed, 1)
			require.Zero(t, failed[0].Delay)
			require.Equal(t, tc.kind, failed[0].Error.Kind)
			info, err := b.store.Get(context.Background(), "run-1")
			require.NoError(t, err)
			require.Equal(t, string(tc.status), info.Status)
			requireFolds(t, b.store, run)
		})
	}
}

func TestModelRetriesExhaustedPausesThenResumes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 500}),
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 500}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) { c.Retry = ratchet.RetryPolicy{MaxAttempts: 2, Jitter: -1} })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ch := stepAsync(context.Background(), run)
	advanceWhenSleeping(t, b.clock, time.Second)
	res := <-ch
	require.ErrorIs(t, res.err, ratchet.ErrModelFailed)
	require.Equal(t, ratchet.StatusPaused, res.step.Status)
	require.Equal(t, []ratchet.RecordKind{ratchet.RecModelFailed, ratchet.RecModelFailed, ratchet.RecRunPaused}, kindsOf(stepRecords(res.step)))
	require.Equal(t, time.Second, res.step.Records[0].Delay)
	require.Zero(t, res.step.Records[1].Delay)

	// Resumed in a new process, it calls the model again and completes.
	run2, err := a.Resume(context.Background(), "run-1", nil)
	require.NoError(t, err)
	out, err := run2.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Equal(t, 3, m.Calls())
	requireFolds(t, b.store, run2)
}

func stepRecords(st ratchet.Step) []*ratchet.Record {
	return st.Records
}

func TestModelTimeoutAndPanicRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Reply{Delay: time.Minute, Response: ratchettest.Text("late").Response},
		ratchettest.Reply{Panic: "adapter bug"},
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Budget.ModelTimeout = 20 * time.Millisecond
		c.Retry.Jitter = -1
	})
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ch := stepAsync(context.Background(), run)
	advanceWhenSleeping(t, b.clock, time.Second)
	advanceWhenSleeping(t, b.clock, 2*time.Second)
	res := <-ch
	require.NoError(t, res.err)
	require.Equal(t, ratchet.StatusSucceeded, run.Status())
	failed := ofKind(logOf(t, b.store, "run-1"), ratchet.RecModelFailed)
	require.Len(t, failed, 2)
	require.Equal(t, "model:timeout", failed[0].Error.Kind)
	require.Equal(t, "model:transient", failed[1].Error.Kind)
	require.Contains(t, failed[1].Error.Message, "adapter bug")
}

func TestCustomRetryClassifier(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Retry.Classify = func(error) ratchet.RetryDecision { return ratchet.RetryDecision{Retry: true, Delay: 3 * time.Second} }
	})
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ch := stepAsync(context.Background(), run)
	advanceWhenSleeping(t, b.clock, 3*time.Second)
	require.NoError(t, (<-ch).err)
	require.Equal(t, 3*time.Second, ofKind(logOf(t, b.store, "run-1"), ratchet.RecModelFailed)[0].Delay)
}

func TestToolRetries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var calls atomic.Int64
	flaky := ratchet.NewTool("flaky", "Fails twice.", func(ctx context.Context, in struct{}) (string, error) {
		if calls.Add(1) <= 2 {
			return "", errors.New("upstream 503")
		}
		return "fine", nil
	}, ratchet.WithRetry(ratchet.RetryPolicy{InitialDelay: 10 * time.Second, Jitter: -1}))
	var hopeless atomic.Int64
	broken := ratchet.NewTool("broken", "Always fails.", func(ctx context.Context, in struct{}) (string, error) {
		hopeless.Add(1)
		return "", errors.New("always down")
	}, ratchet.WithRetry(ratchet.RetryPolicy{MaxAttempts: 2, InitialDelay: 10 * time.Second, Jitter: -1}))
	b.tools = []ratchet.Tool{flaky, broken}
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "flaky", Args: `{}`}),
		ratchettest.ToolCalls(ratchettest.Call{Name: "broken", Args: `{}`}),
		ratchettest.Text("ok"),
	)
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)

	ch := stepAsync(context.Background(), run)
	advanceWhenSleeping(t, b.clock, 10*time.Second)
	advanceWhenSleeping(t, b.clock, 20*time.Second)
	res := <-ch
	require.NoError(t, res.err)
	require.Equal(t, int64(3), calls.Load())
	require.Equal(t, "fine", res.step.Results()[0].Content)
	var lines []string
	for _, r := range res.step.Records {
		if r.Kind == ratchet.RecToolFailed || r.Kind == ratchet.RecToolStarted {
			lines = append(lines, r.String())
		}
	}
	require.Equal(t, []string{
		"tool_started step=1 call[0]=flaky#call_1 key=run-1/1/0",
		`tool_failed step=1 call[0]=flaky#call_1 key=run-1/1/0 delay=10s error=tool:error "ratchet: tool \"flaky\" (call call_1, attempt 1) error: upstream 503"`,
		"tool_started step=1 call[0]=flaky#call_1 key=run-1/1/0 attempt=2",
		`tool_failed step=1 call[0]=flaky#call_1 key=run-1/1/0 attempt=2 delay=20s error=tool:error "ratchet: tool \"flaky\" (call call_1, attempt 2) error: upstream 503"`,
		"tool_started step=1 call[0]=flaky#call_1 key=run-1/1/0 attempt=3",
	}, lines)

	// Retries exhausted: the last error is reported to the model.
	ch = stepAsync(context.Background(), run)
	advanceWhenSleeping(t, b.clock, 10*time.Second)
	res = <-ch
	require.NoError(t, res.err)
	require.Equal(t, int64(2), hopeless.Load())
	r := res.step.Results()[0]
	require.True(t, r.IsError)
	require.Equal(t, "error: always down", r.Content)

	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Equal(t, 5, run.State().ToolCalls) // attempts count
	requireFolds(t, b.store, run)
}
