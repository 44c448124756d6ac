package ratchet_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

// bigTool returns a long text starting with its argument.
func bigTool() ratchet.Tool {
	return ratchet.NewTool("big", "Long output.", func(ctx context.Context, in struct {
		N int `json:"n"`
	}) (string, error) {
		return fmt.Sprint(in.N) + strings.Repeat("x", 400), nil
	})
}

// echoSteps is n steps each calling big (about 100 estimated tokens of
// result each).
func echoSteps(n int) []ratchettest.Reply {
	var out []ratchettest.Reply
	for i := range n {
		out = append(out, ratchettest.ToolCalls(ratchettest.Call{Name: "big", Args: fmt.Sprintf(`{"n":%d}`, i)}))
	}
	return out
}

func toolContents(msgs []ratchet.Message) []string {
	var out []string
	for _, m := range msgs {
		if m.Role == ratchet.RoleTool {
			c := m.Content
			if c != ratchet.TrimmedContent {
				c = c[:1]
			}
			out = append(out, c)
		}
	}
	return out
}

func TestHistoryTrimmedToContextWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = append(b.tools, bigTool())
	m := ratchettest.NewModel(t, append(echoSteps(4), ratchettest.Text("ok"))...)
	a := b.agent(t, m, func(c *ratchet.Config) { c.History.ContextWindow = 300 })
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)

	reqs := m.Requests()
	T := ratchet.TrimmedContent
	require.Equal(t, []string{"0"}, toolContents(reqs[1].Messages))
	for i, req := range reqs[2:] {
		// The oldest results go first; the newest always stays.
		got := toolContents(req.Messages)
		require.Len(t, got, i+2)
		require.Equal(t, fmt.Sprint(i+1), got[i+1])
		seen := false
		for _, c := range got {
			if c != T {
				seen = true
			} else {
				require.False(t, seen, "trimmed a newer result before an older one: %v", got)
			}
		}
	}
	require.Equal(t, []string{"0", "1"}, toolContents(reqs[2].Messages))
	require.Equal(t, []string{T, T, "2"}, toolContents(reqs[3].Messages))
	require.Equal(t, []string{T, T, "2", "3"}, toolContents(reqs[4].Messages))
	for _, req := range reqs {
		require.Equal(t, "You add numbers.", req.Messages[0].Content)
		require.Equal(t, "go", req.Messages[1].Content)
		assertWellFormed(t, req.Messages[1:])
	}

	// The log keeps everything; what was trimmed is recorded.
	st := run.State()
	require.Equal(t, []string{"0", "1", "2", "3"}, toolContents(st.Messages))
	require.Equal(t, []int{2, 4}, st.Trimmed)
	trims := ofKind(logOf(t, b.store, "run-1"), ratchet.RecHistoryTrimmed)
	require.NotEmpty(t, trims)
	require.Equal(t, []int{2, 4}, trims[0].Trimmed)
	requireFolds(t, b.store, run)
}

func TestHistoryTrimmedAfterContextLengthError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = append(b.tools, bigTool())
	tooLong := ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelContextLength, StatusCode: 400, Message: "maximum context length exceeded"})
	m := ratchettest.NewModel(t, append(echoSteps(3), tooLong, tooLong, ratchettest.Text("ok"))...)
	a := b.agent(t, m, nil)
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	reqs := m.Requests()
	require.Len(t, reqs, 6)
	T := ratchet.TrimmedContent
	require.Equal(t, []string{"0", "1", "2"}, toolContents(reqs[3].Messages))
	require.Equal(t, []string{T, T, "2"}, toolContents(reqs[4].Messages)) // oldest half
	require.Equal(t, []string{T, T, T}, toolContents(reqs[5].Messages))
	for _, req := range reqs {
		assertWellFormed(t, req.Messages[1:])
	}
	require.Zero(t, b.clock.Waiters(), "no backoff for a shortened prompt")
	recs := logOf(t, b.store, "run-1")
	require.Len(t, ofKind(recs, ratchet.RecHistoryTrimmed), 2)
	require.Len(t, ofKind(recs, ratchet.RecModelFailed), 2)
	require.Equal(t, []string{"0", "1", "2"}, toolContents(run.State().Messages))
	requireFolds(t, b.store, run)

	// Nothing left to trim: the run fails with the model error.
	b = setup(t)
	m = ratchettest.NewModel(t, tooLong)
	_, err = b.agent(t, m, nil).Run(context.Background(), "go", nil)
	me, ok := errors.AsType[*ratchet.ModelError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, ratchet.ModelContextLength, me.Kind)
}

func TestHistorySummariser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = append(b.tools, bigTool())
	var got [][]ratchet.Message
	m := ratchettest.NewModel(t, append(echoSteps(4), ratchettest.Text("ok"))...)
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.History.ContextWindow = 400
		c.History.Summarize = func(ctx context.Context, msgs []ratchet.Message) (string, error) {
			got = append(got, msgs)
			return fmt.Sprintf("summary %d", len(got)), nil
		}
	})
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	out, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.NotEmpty(t, got)
	// The summariser gets whole steps: an assistant call and its result.
	require.Equal(t, ratchet.RoleAssistant, got[0][0].Role)
	require.Equal(t, ratchet.RoleTool, got[0][len(got[0])-1].Role)

	last := m.Requests()[4].Messages
	require.Equal(t, "go", last[1].Content)
	require.Equal(t, "Summary of the earlier part of this task: summary "+fmt.Sprint(len(got)), last[2].Content)
	assertWellFormed(t, last[3:])
	trims := ofKind(logOf(t, b.store, "run-1"), ratchet.RecHistoryTrimmed)
	require.Len(t, trims, len(got))
	require.NotEmpty(t, trims[0].Summary)
	require.Equal(t, []string{"0", "1", "2", "3"}, toolContents(run.State().Messages))
	requireFolds(t, b.store, run)
}

func TestHistorySummariserErrorStopsTheStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tools = append(b.tools, bigTool())
	m := ratchettest.NewModel(t, append(echoSteps(2), ratchettest.Text("ok"))...)
	boom := errors.New("summariser down")
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.History.ContextWindow = 200
		c.History.Summarize = func(ctx context.Context, msgs []ratchet.Message) (string, error) { return "", boom }
	})
	run, err := a.Start(context.Background(), "go", nil)
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	require.ErrorIs(t, err, boom)
	require.Equal(t, ratchet.StatusRunning, run.Status())
	requireFolds(t, b.store, run)
}
