package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

type testBundle struct {
	dir   string
	store *store.File
	clock *ratchettest.Clock
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	dir := t.TempDir()
	s, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return &testBundle{dir: dir, store: s, clock: ratchettest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
}

// agent returns the "calc" agent on the bundle's store, answering with m.
func (b *testBundle) agent(t *testing.T, m ratchet.Model, budget ratchet.Budget) *ratchet.Agent {
	t.Helper()
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "calc", Model: m, ModelName: "small", Store: b.store, Clock: b.clock, Budget: budget,
		Pricing: ratchet.Pricing{"small": {InputPerMTok: 1000, OutputPerMTok: 2000}},
		Tools: []ratchet.Tool{ratchet.NewTool("add", "Adds two integers.", func(ctx context.Context, in addArgs) (int, error) {
			return in.A + in.B, nil
		})},
		Random: func() float64 { return 0.5 },
	})
	require.NoError(t, err)
	return a
}

// populate runs three agents to their ends: run-ok succeeds (a tool call,
// then an answer), run-paused stops at its step budget, run-failed fails
// on a bad request. Each starts a minute after the one before.
func (b *testBundle) populate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ok := b.agent(t, ratchettest.NewModel(t,
		ratchettest.ToolCall(t, "add", addArgs{A: 1, B: 2}),
		ratchettest.Text("1 + 2 = 3"),
	), ratchet.Budget{})
	out, err := ok.Run(ctx, "What is 1 + 2?", &ratchet.RunOptions{ID: "run-ok", Labels: map[string]string{"team": "a"}})
	require.NoError(t, err)
	require.Equal(t, "1 + 2 = 3", out)

	b.clock.Advance(time.Minute)
	paused := b.agent(t, ratchettest.NewModel(t,
		ratchettest.ToolCall(t, "add", addArgs{A: 2, B: 2}),
		ratchettest.Text("4"),
	), ratchet.Budget{MaxSteps: 1})
	r, err := paused.Start(ctx, "What is 2 + 2?", &ratchet.RunOptions{ID: "run-paused", Labels: map[string]string{"team": "b"}})
	require.NoError(t, err)
	_, err = r.Wait(ctx)
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)

	b.clock.Advance(time.Minute)
	failed := b.agent(t, ratchettest.NewModel(t,
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400, Message: "bad request"}),
	), ratchet.Budget{})
	_, err = failed.Run(ctx, "What is 3 + 3?", &ratchet.RunOptions{ID: "run-failed", Labels: map[string]string{"team": "a"}})
	require.Error(t, err)
}

// do runs one command in-process and returns its output.
func do(t *testing.T, s store.Store, cmd func(context.Context, store.Store, []string, io.Writer) error, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := cmd(context.Background(), s, args, &out)
	return out.String(), err
}

func TestRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)

	out, err := do(t, b.store, cmdRuns)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	require.Equal(t, []string{"ID", "AGENT", "STATUS", "CREATED", "UPDATED", "STEPS", "TOKENS", "COST"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"run-failed", "calc", "failed"}, strings.Fields(lines[1])[:3])
	require.Equal(t, []string{"run-paused", "calc", "paused"}, strings.Fields(lines[2])[:3])
	require.Equal(t, []string{"run-ok", "calc", "succeeded", "2026-01-02", "03:04:05", "2026-01-02", "03:04:05", "2", "30", "$0.0400"}, strings.Fields(lines[3]))

	for _, tc := range []struct {
		args []string
		ids  []string
	}{
		{nil, []string{"run-failed", "run-paused", "run-ok"}},
		{[]string{"-status", "paused"}, []string{"run-paused"}},
		{[]string{"-status", "paused,succeeded"}, []string{"run-paused", "run-ok"}},
		{[]string{"-status", "paused", "-status", "failed"}, []string{"run-failed", "run-paused"}},
		{[]string{"-label", "team=a"}, []string{"run-failed", "run-ok"}},
		{[]string{"-label", "team=a", "-status", "succeeded"}, []string{"run-ok"}},
		{[]string{"-agent", "other"}, []string{}},
		{[]string{"-limit", "1"}, []string{"run-failed"}},
	} {
		out, err := do(t, b.store, cmdRuns, append([]string{"-json"}, tc.args...)...)
		require.NoError(t, err, tc.args)
		var infos []store.RunInfo
		require.NoError(t, json.Unmarshal([]byte(out), &infos), out)
		ids := []string{}
		for _, in := range infos {
			ids = append(ids, in.ID)
		}
		require.Equal(t, tc.ids, ids, tc.args)
	}

	// The runtime's bookkeeping runs are listed only on request.
	require.NoError(t, b.store.Create(context.Background(), store.RunInfo{ID: "inbox.run-ok", Agent: ratchet.InboxAgent,
		CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Meta: store.Meta{Status: "pending"}}, nil))
	for args, want := range map[string][]string{
		"":                             {"run-failed", "run-paused", "run-ok"},
		"-limit=1":                     {"run-failed"},
		"-all":                         {"inbox.run-ok", "run-failed", "run-paused", "run-ok"},
		"-agent=" + ratchet.InboxAgent: {"inbox.run-ok"},
	} {
		a := []string{"-json"}
		if args != "" {
			a = append(a, args)
		}
		out, err := do(t, b.store, cmdRuns, a...)
		require.NoError(t, err, args)
		var infos []store.RunInfo
		require.NoError(t, json.Unmarshal([]byte(out), &infos), out)
		ids := []string{}
		for _, in := range infos {
			ids = append(ids, in.ID)
		}
		require.Equal(t, want, ids, args)
	}

	_, err = do(t, b.store, cmdRuns, "-label", "team")
	var ue *usageError
	require.ErrorAs(t, err, &ue)
	_, err = do(t, b.store, cmdRuns, "extra")
	require.ErrorAs(t, err, &ue)
}

func TestShow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)

	out, err := do(t, b.store, cmdShow, "run-ok")
	require.NoError(t, err)
	for _, want := range []string{
		"run run-ok  agent=calc  status=succeeded",
		"steps 2  tokens 20 in / 10 out  tool calls 1  cost $0.0400",
		"labels team=a",
		"started, agent calc",
		"user: What is 1 + 2?",
		"model responded (tool_calls; tokens 10 in / 5 out; cost $0.0200)",
		`call: add#call_1 {"a":1,"b":2}`,
		`tool add#call_1 started {"a":1,"b":2}`,
		"tool add#call_1 finished in",
		"result: 3",
		"text: 1 + 2 = 3",
		"SUCCEEDED",
		"output: 1 + 2 = 3",
	} {
		require.Contains(t, out, want)
	}

	out, err = do(t, b.store, cmdShow, "run-failed")
	require.NoError(t, err)
	require.Contains(t, out, "status=failed")
	require.Contains(t, out, "error model:bad_request: ratchet: model bad_request (status 400): bad request")
	require.Contains(t, out, "model call failed (attempt 1): model:bad_request: ")
	require.Contains(t, out, "FAILED: model:bad_request: ")

	out, err = do(t, b.store, cmdShow, "run-paused")
	require.NoError(t, err)
	require.Contains(t, out, "PAUSED: budget:steps")

	out, err = do(t, b.store, cmdShow, "run-ok", "-json") // flags after the run
	require.NoError(t, err)
	var recs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &recs), out)
	var kinds []string
	for i, r := range recs {
		require.Equal(t, float64(i+1), r["seq"])
		kinds = append(kinds, r["kind"].(string))
	}
	require.Equal(t, []string{"run_started", "model_responded", "tool_started", "tool_finished", "model_responded", "run_completed"}, kinds)
	require.Equal(t, "1 + 2 = 3", recs[5]["output"])
}

func TestShowUnknownKind(t *testing.T) {
	t.Parallel()
	s := store.NewMemory(nil)
	ctx := context.Background()
	start := []byte(`{"v":1,"kind":"run_started","time":"2026-01-02T03:04:05Z","agent":"calc","input":[{"role":"user","content":"hi"}]}`)
	future := []byte(`{"v":1,"kind":"interrupt_asked","time":"2026-01-02T03:04:06Z","step":1,"question":"ok?"}`)
	require.NoError(t, s.Create(ctx, store.RunInfo{ID: "r", Agent: "calc", Meta: store.Meta{Status: "waiting"}}, [][]byte{start, future}))

	out, err := do(t, s, cmdShow, "r")
	require.NoError(t, err)
	require.Contains(t, out, "state not folded")
	require.Contains(t, out, "interrupt_asked step=1")

	out, err = do(t, s, cmdShow, "-json", "r")
	require.NoError(t, err)
	var recs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &recs))
	require.Equal(t, "ok?", recs[1]["question"], "fields of unknown kinds are kept")
}

func TestUnknownRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, cmd := range []func(context.Context, store.Store, []string, io.Writer) error{cmdShow, cmdTail, cmdCancel, cmdRetry} {
		_, err := do(t, b.store, cmd, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Contains(t, err.Error(), `run "nope" not found`)
	}
	_, err := do(t, b.store, cmdShow)
	var ue *usageError
	require.ErrorAs(t, err, &ue)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)
	ctx := context.Background()

	out, err := do(t, b.store, cmdCancel, "run-paused", "-reason", "wrong question", "-json")
	require.NoError(t, err)
	var res opResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, opResult{RunID: "run-paused", Op: "cancel", Status: ratchet.StatusCancelled, Seq: res.Seq, Reason: "wrong question"}, res)

	info, err := b.store.Get(ctx, "run-paused")
	require.NoError(t, err)
	require.Equal(t, "cancelled", info.Status)
	require.Equal(t, res.Seq, info.LastSeq)
	require.EqualValues(t, 1, info.Totals.Steps, "totals are kept")
	st, err := ratchet.LoadState(ctx, b.store, "run-paused")
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusCancelled, st.Status)
	require.Equal(t, &ratchet.ErrorInfo{Kind: "cancelled", Message: "wrong question"}, st.Error)

	for _, id := range []string{"run-paused", "run-ok", "run-failed"} {
		_, err = do(t, b.store, cmdCancel, id)
		var se *ratchet.RunStatusError
		require.ErrorAs(t, err, &se, id)
		require.Contains(t, err.Error(), "has already ended")
	}
}

// conflictStore fails the first n Appends with store.ErrConflict, as if
// another writer had appended first.
type conflictStore struct {
	store.Store
	mu        sync.Mutex
	conflicts int
	appends   int
}

func (c *conflictStore) Append(ctx context.Context, b store.Batch) error {
	c.mu.Lock()
	c.appends++
	fail := c.appends <= c.conflicts
	c.mu.Unlock()
	if fail {
		return store.ErrConflict
	}
	return c.Store.Append(ctx, b)
}

func TestCancelRetriesConflicts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)

	cs := &conflictStore{Store: b.store, conflicts: 2}
	out, err := do(t, cs, cmdCancel, "run-paused")
	require.NoError(t, err)
	require.Contains(t, out, "run run-paused cancelled")
	require.Equal(t, 3, cs.appends)

	cs = &conflictStore{Store: b.store, conflicts: 100}
	_, err = do(t, cs, cmdRetry, "run-paused")
	var se *ratchet.RunStatusError
	require.ErrorAs(t, err, &se, "checked before appending")

	b.clock.Advance(time.Minute)
	a := b.agent(t, ratchettest.NewModel(t), ratchet.Budget{MaxSteps: 1})
	_, err = a.Start(context.Background(), "x", &ratchet.RunOptions{ID: "run-new"})
	require.NoError(t, err)
	_, err = do(t, cs, cmdCancel, "run-new")
	require.ErrorIs(t, err, store.ErrConflict)
	require.Equal(t, 5, cs.appends, "a bounded number of attempts")
}

func TestRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)
	ctx := context.Background()

	var ue *usageError
	for _, bad := range [][]string{{"-max-steps", "0"}, {"-max-cost", "-2"}, {"-max-wall-time", "-1s"}, {"-max-steps", "x"}} {
		_, err := do(t, b.store, cmdRetry, append([]string{"run-paused"}, bad...)...)
		require.ErrorAs(t, err, &ue, bad)
	}

	out, err := do(t, b.store, cmdRetry, "run-paused", "-max-steps", "5", "-max-cost", "-1", "-json")
	require.NoError(t, err)
	var res opResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	want := &ratchet.Budget{MaxSteps: 5, MaxCostUSD: ratchet.Unlimited}
	require.Equal(t, opResult{RunID: "run-paused", Op: "retry", Status: ratchet.StatusRunning, Seq: res.Seq, Budget: want}, res)
	info, err := b.store.Get(ctx, "run-paused")
	require.NoError(t, err)
	require.Equal(t, "running", info.Status)

	out, err = do(t, b.store, cmdShow, "run-paused")
	require.NoError(t, err)
	require.Contains(t, out, "resumed with budget max_steps=5 max_cost_usd=-1")
	require.Contains(t, out, "budget override max_steps=5 max_cost_usd=-1")

	// A process owning the agent continues it; the agent's own budget
	// (one step) would pause it again at once.
	a := b.agent(t, ratchettest.NewModel(t, ratchettest.Text("4")), ratchet.Budget{MaxSteps: 1})
	r, err := a.Resume(ctx, "run-paused", nil)
	require.NoError(t, err)
	got, err := r.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "4", got)

	for _, id := range []string{"run-paused", "run-failed"} {
		_, err = do(t, b.store, cmdRetry, id)
		var se *ratchet.RunStatusError
		require.ErrorAs(t, err, &se)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	step := make(chan struct{})
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		<-step
		if call == 0 {
			return ratchettest.ToolCall(t, "add", addArgs{A: 1, B: 2})
		}
		return ratchettest.Text("3")
	})
	a := b.agent(t, m, ratchet.Budget{})
	r, err := a.Start(ctx, "What is 1 + 2?", &ratchet.RunOptions{ID: "live"})
	require.NoError(t, err)

	var human, lines syncBuffer
	done := make(chan error, 2)
	go func() { done <- cmdTail(ctx, b.store, []string{"live", "-interval", "2ms"}, &human) }()
	go func() { done <- cmdTail(ctx, b.store, []string{"-json", "-interval", "2ms", "live"}, &lines) }()
	require.Eventually(t, func() bool { return strings.Contains(human.String(), "started, agent calc") }, 5*time.Second, time.Millisecond)

	waited := make(chan error, 1)
	go func() { _, err := r.Wait(ctx); waited <- err }()
	step <- struct{}{}
	require.Eventually(t, func() bool { return strings.Contains(human.String(), "result: 3") }, 5*time.Second, time.Millisecond)
	require.NotContains(t, human.String(), "SUCCEEDED")
	step <- struct{}{}
	require.NoError(t, <-waited)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	require.Contains(t, human.String(), "SUCCEEDED")

	var kinds []string
	for _, l := range strings.Split(strings.TrimSpace(lines.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		require.EqualValues(t, len(kinds)+1, rec["seq"])
		kinds = append(kinds, rec["kind"].(string))
	}
	require.Equal(t, []string{"run_started", "model_responded", "tool_started", "tool_finished", "model_responded", "run_completed"}, kinds)

	// -from prints from a sequence on, still knowing the call's arguments.
	out, err := do(t, b.store, cmdTail, "live", "-from", "3")
	require.NoError(t, err)
	require.NotContains(t, out, "started, agent")
	require.Contains(t, out, `tool add#call_1 started {"a":1,"b":2}`)
}

func TestTailStopsOnCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- cmdTail(ctx, b.store, []string{"run-paused", "-interval", "2ms"}, &out) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "PAUSED") }, 5*time.Second, time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("tail of a paused run returned %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	// A cancellation from another process ends the run, and the tail.
	_, err := do(t, b.store, cmdCancel, "run-paused")
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.Contains(t, out.String(), "CANCELLED: cancelled: cancelled by operator")

	// SIGINT (ctx done) stops a tail of a run that does not end.
	a := b.agent(t, ratchettest.NewModel(t), ratchet.Budget{})
	_, err = a.Start(context.Background(), "x", &ratchet.RunOptions{ID: "idle"})
	require.NoError(t, err)
	go func() { done <- cmdTail(ctx, b.store, []string{"idle", "-interval", "2ms"}, io.Discard) }()
	cancel()
	require.NoError(t, <-done)
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)
	ctx := context.Background()
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"-store", b.dir, "runs"}, exitOK, ""},
		{[]string{"-store", b.dir, "-json", "show", "run-ok"}, exitOK, ""},
		{[]string{"-store", b.dir, "show", "nope"}, exitError, `ratchet show: run "nope" not found`},
		{[]string{"-store", b.dir, "cancel", "run-ok"}, exitError, "cannot cancel run run-ok: it has already ended (succeeded)"},
		{[]string{"-store", b.dir, "delete", "run-paused"}, exitError, "cannot delete run run-paused: it is paused"},
		{[]string{"-store", b.dir, "prune"}, exitUsage, "usage: ratchet prune -older-than D"},
		{[]string{"-store", b.dir, "show"}, exitUsage, "usage: ratchet show RUN"},
		{[]string{"-store", b.dir, "runs", "-limit", "x"}, exitUsage, "invalid value"},
		{[]string{"-store", b.dir, "frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"-bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"runs"}, exitUsage, "no store"},
		{[]string{"-store", t.TempDir(), "runs"}, exitError, "no ratchet store in"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(ctx, tc.args, &stdout, &stderr)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, stderr.String())
		require.Contains(t, stderr.String(), tc.stderr, tc.args)
	}
}
