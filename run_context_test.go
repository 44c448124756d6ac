package ratchet_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

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
