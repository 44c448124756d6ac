package ratchet_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

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
