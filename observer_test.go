package ratchet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
	"github.com/stretchr/testify/require"
)

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []ratchet.Event
}

func (r *recorder) Observe(ctx context.Context, e ratchet.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) kinds() []ratchet.EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ratchet.EventKind
	for _, e := range r.events {
		out = append(out, e.Kind)
	}
	return out
}

func (r *recorder) of(kind ratchet.EventKind) []ratchet.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ratchet.Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestObserverSeesEverything(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := &recorder{}
	m := ratchettest.NewModel(t,
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 503}),
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}),
		ratchettest.Text("3"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Observer = ratchet.MultiObserver(rec, ratchet.DiscardObserver(), nil)
		c.ModelName = "gpt-test"
		c.Pricing = ratchet.Pricing{"gpt-test": {InputPerMTok: 1e6, OutputPerMTok: 1e6}}
		c.Budget = ratchet.Budget{MaxToolCalls: 1, MaxCostUSD: 1e9}
	})
	done := make(chan error)
	go func() { _, err := a.Run(context.Background(), "1+2", nil); done <- err }()
	require.True(t, b.clock.WaitForWaiters(1, 5*time.Second))
	b.clock.Advance(time.Minute)
	require.NoError(t, <-done)

	kinds := rec.kinds()
	require.Equal(t, ratchet.EventRunStarted, kinds[0])
	require.Equal(t, ratchet.EventRunEnded, kinds[len(kinds)-2])
	require.Equal(t, ratchet.EventStepFinished, kinds[len(kinds)-1])

	calls := rec.of(ratchet.EventModelCall)
	require.Len(t, calls, 3)
	require.Error(t, calls[0].Err)
	require.Equal(t, 1, calls[0].Attempt)
	require.Positive(t, calls[0].RetryDelay)
	require.NoError(t, calls[1].Err)
	require.Equal(t, 2, calls[1].Attempt)
	require.Equal(t, "gpt-test", calls[1].Model)
	require.Equal(t, int64(10), calls[1].Usage.InputTokens)
	require.InDelta(t, 15.0, calls[1].CostUSD, 1e-9)

	tools := rec.of(ratchet.EventToolCall)
	require.Len(t, tools, 1)
	require.Equal(t, "add", tools[0].Tool)
	require.Equal(t, "run-1/1/0", tools[0].Key)
	require.Equal(t, len(`{"a":1,"b":2}`), tools[0].ArgBytes)
	require.Equal(t, 1, tools[0].ResultBytes)

	var last uint64
	for _, e := range rec.of(ratchet.EventCheckpoint) {
		require.Greater(t, e.Seq, last)
		last = e.Seq
	}
	info, err := b.store.Get(context.Background(), "run-1")
	require.NoError(t, err)
	require.Equal(t, info.LastSeq, last)

	steps := rec.of(ratchet.EventStepStarted)
	require.Len(t, steps, 2)
	warn := rec.of(ratchet.EventBudgetWarning)
	require.Len(t, warn, 1, "one warning per budget")
	require.Equal(t, ratchet.BudgetToolCalls, warn[0].Budget)
	ended := rec.of(ratchet.EventRunEnded)
	require.Equal(t, ratchet.StatusSucceeded, ended[0].Status)
}

func TestObserverSuspensionAndResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := &recorder{}
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("3"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Observer = rec; c.Budget = ratchet.Budget{MaxSteps: 1} })
	_, err := a.Run(context.Background(), "1+2", nil)
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)
	sus := rec.of(ratchet.EventRunSuspended)
	require.Len(t, sus, 1)
	require.Equal(t, ratchet.StatusPaused, sus[0].Status)
	require.ErrorContains(t, sus[0].Err, "steps")

	run, err := a.Resume(context.Background(), "run-1", &ratchet.RunOptions{Budget: &ratchet.Budget{MaxSteps: 5}})
	require.NoError(t, err)
	require.Len(t, rec.of(ratchet.EventRunResumed), 1)
	_, err = run.Wait(context.Background())
	require.NoError(t, err)
}

func TestSlogObserver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("3"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Observer = ratchet.NewSlogObserver(logger) })
	_, err := a.Run(context.Background(), "1+2", nil)
	require.NoError(t, err)
	var sawTool, sawEnd bool
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		require.Equal(t, "run-1", rec["run_id"])
		require.Equal(t, "calc", rec["agent"])
		switch rec["msg"] {
		case "ratchet: tool_call":
			sawTool = true
			require.Equal(t, "add", rec["tool"])
			require.Equal(t, float64(1), rec["step"])
			require.Equal(t, "DEBUG", rec["level"])
		case "ratchet: run_ended":
			sawEnd = true
			require.Equal(t, "succeeded", rec["status"])
		}
	}
	require.True(t, sawTool)
	require.True(t, sawEnd)
}

// TestRedactorKeepsSecretsOutOfStoreAndLogs: a secret the scripted model
// puts in a tool argument (and that the tool echoes in its error) never
// reaches the store files or the logs, while the tool still receives it.
func TestRedactorKeepsSecretsOutOfStoreAndLogs(t *testing.T) {
	t.Parallel()
	const secret = "sk-live-SECRET-1234567890"
	dir := t.TempDir()
	fst, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { fst.Close() })
	var got string
	login := ratchet.NewTool("login", "Logs in.", func(ctx context.Context, in struct {
		Token string `json:"token"`
	}) (string, error) {
		got = in.Token
		return "", errors.New("token " + in.Token + " rejected")
	})
	var logs bytes.Buffer
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "login", Args: `{"token":"` + secret + `"}`}),
		ratchettest.Text("the token "+secret+" did not work"),
	)
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "redact", Model: m, Tools: []ratchet.Tool{login}, Store: fst,
		Observer: ratchet.NewSlogObserver(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		Redactor: ratchet.RedactFunc(func(s string) string { return strings.ReplaceAll(s, secret, "[REDACTED]") }),
	})
	require.NoError(t, err)
	out, err := a.Run(context.Background(), "log in with "+secret, nil)
	require.NoError(t, err)
	require.Equal(t, secret, got, "the tool gets the raw argument in the live step")
	require.Equal(t, "the token [REDACTED] did not work", out)
	require.NoError(t, fst.Close())

	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NotContains(t, string(data), secret, path)
		files++
		return nil
	}))
	require.Positive(t, files)
	require.NotContains(t, logs.String(), secret)
	require.Contains(t, logs.String(), "[REDACTED]")
}

// callKey is the context key of callTracer's call names.
type callKey struct{ tracer string }

// callTracer is a CallObserver that puts a name for each call in the
// call's context and checks that the call's event comes back with it.
type callTracer struct {
	name    string
	mu      sync.Mutex
	started []ratchet.Event
	ended   map[string]ratchet.Event // by the name StartCall gave
	plain   []ratchet.EventKind      // events without a call name
}

func newCallTracer(name string) *callTracer {
	return &callTracer{name: name, ended: map[string]ratchet.Event{}}
}

func (c *callTracer) StartCall(ctx context.Context, e ratchet.Event) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = append(c.started, e)
	return context.WithValue(ctx, callKey{c.name}, fmt.Sprintf("%s %s#%d", e.Kind, e.Tool, len(c.started)))
}

func (c *callTracer) Observe(ctx context.Context, e ratchet.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := ctx.Value(callKey{c.name}).(string); ok {
		c.ended[name] = e
		return
	}
	c.plain = append(c.plain, e.Kind)
}

// A CallObserver's StartCall runs just before each model and tool call,
// with what is known then; the call runs with the context it returns (a
// tracer's span nests the model client's and the tool's own), and the
// call's event comes back to Observe with that context.
func TestCallObserverWrapsEachCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seen := map[string]string{} // what the tool and the model saw in their contexts
	var mu sync.Mutex
	b.tools = append(b.tools, ratchet.NewTool("look", "Looks at its context.", func(ctx context.Context, in struct{}) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		seen["tool"], _ = ctx.Value(callKey{"t"}).(string)
		return "ok", nil
	}))
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		mu.Lock()
		defer mu.Unlock()
		seen[fmt.Sprint("model", call)], _ = ctx.Value(callKey{"t"}).(string)
		if call == 0 {
			return ratchettest.ToolCalls(ratchettest.Call{Name: "look", Args: `{}`})
		}
		return ratchettest.Text("done")
	})
	tr := newCallTracer("t")
	a := b.agent(t, m, func(c *ratchet.Config) { c.Observer = tr; c.ModelName = "m1" })
	out, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "done", out)

	require.Equal(t, map[string]string{"model0": "model_call #1", "tool": "tool_call look#2", "model1": "model_call #3"}, seen)
	require.Len(t, tr.started, 3)
	m0, tool := tr.started[0], tr.started[1]
	require.Equal(t, ratchet.Event{Kind: ratchet.EventModelCall, Time: m0.Time, RunID: "run-1", Agent: "calc", Step: 1,
		Status: ratchet.StatusRunning, Model: "m1", Attempt: 1}, m0)
	require.Equal(t, ratchet.Event{Kind: ratchet.EventToolCall, Time: tool.Time, RunID: "run-1", Agent: "calc", Step: 1,
		Tool: "look", CallID: "call_1", Key: "run-1/1/0", Attempt: 1, ArgBytes: 2}, tool)
	// Each call's own event came back with the context of its StartCall.
	require.Len(t, tr.ended, 3)
	require.Equal(t, ratchet.EventModelCall, tr.ended["model_call #1"].Kind)
	require.Equal(t, "look", tr.ended["tool_call look#2"].Tool)
	require.Equal(t, 2, tr.ended["model_call #3"].Step)
	require.NotContains(t, tr.plain, ratchet.EventModelCall)
	require.NotContains(t, tr.plain, ratchet.EventToolCall)
	require.Contains(t, tr.plain, ratchet.EventStepStarted)
}

// A model call cut short by the caller's context still ends with an
// event (with the cause), so that what StartCall opened is closed.
func TestCallObserverSeesACancelledModelCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		cancel()
		<-ctx.Done()
		return ratchettest.Reply{Err: ctx.Err()}
	})
	tr := newCallTracer("t")
	a := b.agent(t, m, func(c *ratchet.Config) { c.Observer = tr })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Step(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, tr.started, 1)
	ended := tr.ended["model_call #1"]
	require.Equal(t, ratchet.EventModelCall, ended.Kind)
	require.ErrorIs(t, ended.Err, context.Canceled)
}

// MultiObserver is a CallObserver when one of its observers is: each
// CallObserver's StartCall adds to the call's context, in order, and every
// observer gets the call's event with the context they made together.
func TestMultiObserverPassesCallsThrough(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t1, t2, rec := newCallTracer("one"), newCallTracer("two"), &recorder{}
	_, plainIsCall := ratchet.MultiObserver(rec, nil).(ratchet.CallObserver)
	require.False(t, plainIsCall, "no CallObserver among them: no StartCall to make")
	obs := ratchet.MultiObserver(t1, rec, t2)
	require.Implements(t, (*ratchet.CallObserver)(nil), obs)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), ratchettest.Text("3"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Observer = obs })
	_, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	for _, tr := range []*callTracer{t1, t2} {
		require.Len(t, tr.started, 3)
		require.Len(t, tr.ended, 3, tr.name)
	}
	require.Len(t, rec.of(ratchet.EventToolCall), 1)
	require.Len(t, rec.of(ratchet.EventModelCall), 2)
}

// Whatever way a call ends, its event comes back: here a model call that
// hit the context length, when shortening the history then fails, and a
// tool that panics.
func TestCallObserverEndsEveryCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = append(b.tools, ratchet.NewTool("boom", "Panics.", func(ctx context.Context, in struct{}) (string, error) { panic("boom") }))
	tooLong := ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelContextLength, StatusCode: 400, Message: "maximum context length exceeded"})
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "boom", Args: `{}`}),
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}), tooLong)
	summaryDown := errors.New("summariser down")
	tr := newCallTracer("t")
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Observer = tr
		c.History.Summarize = func(ctx context.Context, msgs []ratchet.Message) (string, error) { return "", summaryDown }
	})
	_, err := a.Run(context.Background(), "go", nil)
	require.ErrorIs(t, err, summaryDown)
	require.Len(t, tr.started, 5) // model, tool, model, tool, model
	require.Len(t, tr.ended, 5)
	require.Equal(t, ratchet.ToolErrorPanic, mustToolError(t, tr.ended["tool_call boom#2"].Err).Kind)
	me, ok := errors.AsType[*ratchet.ModelError](tr.ended["model_call #5"].Err)
	require.True(t, ok)
	require.Equal(t, ratchet.ModelContextLength, me.Kind)
}

func mustToolError(t *testing.T, err error) *ratchet.ToolError {
	t.Helper()
	te, ok := errors.AsType[*ratchet.ToolError](err)
	require.True(t, ok, "%v", err)
	return te
}

// Calls that run in parallel each start and end through the CallObserver,
// concurrently (run with -race).
func TestCallObserverParallelCalls(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tr := newCallTracer("t")
	calls := make([]ratchettest.Call, 4)
	for i := range calls {
		calls[i] = ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}
	}
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(calls...), ratchettest.Text("done"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Observer = tr })
	_, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Len(t, tr.started, 6)
	require.Len(t, tr.ended, 6)
	for _, e := range tr.started {
		if e.Kind == ratchet.EventToolCall {
			require.Empty(t, e.Status, "a tool call's event has no status")
		}
	}
}
