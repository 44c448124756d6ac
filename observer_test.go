package ratchet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
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
