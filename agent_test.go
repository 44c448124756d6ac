package ratchet_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

type addArgs struct {
	A int `json:"a" jsonschema:"description=first addend"`
	B int `json:"b" jsonschema:"description=second addend"`
}

type testBundle struct {
	store *store.Memory
	clock *ratchettest.Clock
	adds  *atomic.Int64
	tools []ratchet.Tool
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	b := &testBundle{
		store: store.NewMemory(nil),
		clock: ratchettest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		adds:  new(atomic.Int64),
	}
	b.tools = []ratchet.Tool{
		ratchet.NewTool("add", "Adds two integers.", func(ctx context.Context, in addArgs) (int, error) {
			b.adds.Add(1)
			return in.A + in.B, nil
		}),
		ratchet.NewTool("echo", "Echoes its text.", func(ctx context.Context, in struct {
			Text string `json:"text"`
		}) (string, error) {
			return in.Text, nil
		}),
	}
	return b
}

func (b *testBundle) agent(t *testing.T, m ratchet.Model, mod func(*ratchet.Config)) *ratchet.Agent {
	t.Helper()
	cfg := ratchet.Config{
		Name: "calc", Model: m, Instructions: "You add numbers.", Tools: b.tools,
		Store: b.store, Clock: b.clock, NewID: func() string { return "run-1" },
		Random: func() float64 { return 0.5 },
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := ratchet.NewAgent(cfg)
	require.NoError(t, err)
	return a
}

func TestRunToolThenAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":2,"b":3}`}, ratchettest.Call{Name: "echo", Args: `{"text":"hi"}`}),
		ratchettest.Text("5"),
	)
	a := b.agent(t, m, nil)
	ctx := context.Background()
	run, err := a.Start(ctx, "what is 2+3?", nil)
	require.NoError(t, err)

	st, err := run.Step(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Number)
	require.Equal(t, ratchet.StatusRunning, st.Status)
	res := st.Results()
	require.Len(t, res, 2)

	out, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "5", out)
	require.Equal(t, ratchet.StatusSucceeded, run.Status())

	reqs := m.Requests()
	require.Len(t, reqs, 2)
	require.Equal(t, ratchet.RoleSystem, reqs[0].Messages[0].Role)
	require.Len(t, reqs[0].Tools, 2)
	msgs := reqs[1].Messages
	require.Len(t, msgs, 5) // system, user, assistant, tool, tool
	require.Equal(t, "call_1", msgs[3].ToolCallID)
	require.Equal(t, "5", msgs[3].Content)
	require.Equal(t, "call_2", msgs[4].ToolCallID)
	require.Equal(t, "hi", msgs[4].Content)

	_, err = run.Step(ctx)
	require.ErrorIs(t, err, ratchet.ErrRunEnded)

	info, err := b.store.Get(ctx, "run-1")
	require.NoError(t, err)
	require.Equal(t, "succeeded", info.Status)
	require.Equal(t, int64(2), info.Totals.Steps)
	require.Equal(t, int64(2), info.Totals.ToolCalls)
}

func TestParallelResultsKeepCallOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var running, peak atomic.Int64
	slow := ratchet.NewTool("slow", "Sleeps then echoes.", func(ctx context.Context, in struct {
		MS int `json:"ms"`
	}) (int, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Duration(in.MS) * time.Millisecond)
		running.Add(-1)
		return in.MS, nil
	})
	b.tools = []ratchet.Tool{slow}
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(
			ratchettest.Call{Name: "slow", Args: `{"ms":30}`},
			ratchettest.Call{Name: "slow", Args: `{"ms":1}`},
			ratchettest.Call{Name: "slow", Args: `{"ms":15}`},
			ratchettest.Call{Name: "slow", Args: `{"ms":5}`},
		),
		ratchettest.Text("done"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) { c.MaxParallelTools = 2 })
	_, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	msgs := m.Requests()[1].Messages
	var got []string
	for _, msg := range msgs {
		if msg.Role == ratchet.RoleTool {
			got = append(got, msg.ToolCallID+"="+msg.Content)
		}
	}
	require.Equal(t, []string{"call_1=30", "call_2=1", "call_3=15", "call_4=5"}, got)
	require.Equal(t, int64(2), peak.Load())
}

func TestNewAgentValidates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t)
	dup := ratchet.NewTool("add", "again", func(ctx context.Context, in addArgs) (int, error) { return 0, nil })
	bad := ratchet.NewTool("no spaces allowed", "x", func(ctx context.Context, in addArgs) (int, error) { return 0, nil })
	long := ratchet.NewTool(strings.Repeat("a", 65), "x", func(ctx context.Context, in addArgs) (int, error) { return 0, nil })
	notStruct := ratchet.NewTool("num", "x", func(ctx context.Context, in int) (int, error) { return 0, nil })
	for name, cfg := range map[string]ratchet.Config{
		"no name":      {Model: m},
		"no model":     {Name: "a"},
		"duplicate":    {Name: "a", Model: m, Tools: []ratchet.Tool{b.tools[0], dup}},
		"bad name":     {Name: "a", Model: m, Tools: []ratchet.Tool{bad}},
		"long name":    {Name: "a", Model: m, Tools: []ratchet.Tool{long}},
		"not a struct": {Name: "a", Model: m, Tools: []ratchet.Tool{notStruct}},
		"nil tool":     {Name: "a", Model: m, Tools: []ratchet.Tool{nil}},
	} {
		_, err := ratchet.NewAgent(cfg)
		require.Error(t, err, name)
	}
}

func TestToolOutputTruncated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = append(b.tools, ratchet.NewTool("big", "Big output.", func(ctx context.Context, in struct{}) (string, error) {
		return strings.Repeat("é", 100), nil
	}))
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "big", Args: `{}`}), ratchettest.Text("ok"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.MaxToolOutputBytes = 51 })
	_, err := a.Run(context.Background(), "go", nil)
	require.NoError(t, err)
	got := m.Requests()[1].Messages[3].Content
	require.True(t, strings.HasPrefix(got, strings.Repeat("é", 25)+ratchet.TruncationMarker), got)
	require.Contains(t, got, "showing 50 of 200 bytes")
}

func TestIdempotencyKeyInContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var key string
	b.tools = []ratchet.Tool{ratchet.NewTool("k", "Key.", func(ctx context.Context, in struct{}) (string, error) {
		key = ratchet.IdempotencyKey(ctx)
		return "ok", nil
	})}
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "k", Args: `{}`}), ratchettest.Text("ok"))
	_, err := b.agent(t, m, nil).Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "run-1/1/0", key)
}

func TestResumeUnknownRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.agent(t, ratchettest.NewModel(t), nil)
	_, err := a.Resume(context.Background(), "nope", nil)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = a.Start(context.Background(), "x", &ratchet.RunOptions{ID: "../escape"})
	require.ErrorIs(t, err, store.ErrInvalidID)
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.Text("never"))
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = run.Step(ctx)
	require.True(t, errors.Is(err, context.Canceled))
	require.Equal(t, 0, m.Calls())
	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "never", out)
}
