package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

// waitingRun starts run id on an agent whose only tool is tool, steps it
// until it waits on the tool's interrupt, and returns the agent and the
// pending interrupt.
func (b *testBundle) waitingRun(t *testing.T, id string, tool ratchet.Tool, final string) (*ratchet.Agent, ratchet.PendingInterrupt) {
	t.Helper()
	ctx := context.Background()
	a, err := ratchet.NewAgent(ratchet.Config{Name: "ops", Store: b.store, Clock: b.clock, Tools: []ratchet.Tool{tool},
		Model: ratchettest.NewModel(t, ratchettest.ToolCall(t, tool.Spec().Name, `{"text":"prod"}`), ratchettest.Text(final))})
	require.NoError(t, err)
	r, err := a.Start(ctx, "go", &ratchet.RunOptions{ID: id})
	require.NoError(t, err)
	_, _ = r.Wait(ctx)
	require.Equal(t, ratchet.StatusWaiting, r.Status())
	st := r.State()
	require.Len(t, st.Interrupts, 1)
	return a, st.Interrupts[0]
}

type textIn struct {
	Text string `json:"text"`
}

func TestAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	del := ratchet.NewTool("delete", "Deletes.", func(ctx context.Context, in textIn) (string, error) {
		return "deleted " + in.Text, nil
	}, ratchet.NeedsApproval())
	a, p := b.waitingRun(t, "approve-me", del, "done")
	require.Equal(t, ratchet.InterruptApproval, p.Kind)

	out, err := do(t, b.store, cmdShow, "approve-me")
	require.NoError(t, err)
	require.Contains(t, out, "pending approval "+p.ID+": delete")
	require.Contains(t, out, "WAITING: approval "+p.ID+" on delete#0")

	var ue *usageError
	_, err = do(t, b.store, cmdAnswer, "approve-me", p.ID, "maybe")
	require.ErrorAs(t, err, &ue)
	_, err = do(t, b.store, cmdAnswer, "approve-me", p.ID)
	require.ErrorAs(t, err, &ue)

	out, err = do(t, b.store, cmdAnswer, "approve-me", p.ID, "approve", "-json")
	require.NoError(t, err)
	var res opResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, "answer", res.Op)
	require.Equal(t, p.ID, res.Interrupt)
	require.True(t, res.Answer.Approved)
	_, err = do(t, b.store, cmdAnswer, "approve-me", p.ID, "reject")
	require.ErrorIs(t, err, ratchet.ErrAlreadyAnswered)

	r, err := a.Resume(ctx, "approve-me", nil)
	require.NoError(t, err)
	got, err := r.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "done", got)
	out, err = do(t, b.store, cmdShow, "approve-me")
	require.NoError(t, err)
	require.Contains(t, out, "interrupt "+p.ID+" answered: approved")
	require.Contains(t, out, "result: deleted prod")

	// A question's answer: JSON, or text taken as a JSON string.
	ask := ratchet.NewTool("ask", "Asks.", func(ctx context.Context, in textIn) (string, error) {
		return "", ratchet.Interrupt(ratchet.Question{Prompt: "Which env?"})
	})
	_, q := b.waitingRun(t, "question", ask, "ok")
	require.Equal(t, ratchet.InterruptQuestion, q.Kind)
	out, err = do(t, b.store, cmdAnswer, "question", q.ID, "staging")
	require.NoError(t, err)
	require.Contains(t, out, "interrupt "+q.ID+" answered")
	out, err = do(t, b.store, cmdShow, "question", "-json")
	require.NoError(t, err)
	var recs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &recs))
	last := recs[len(recs)-1]
	require.Equal(t, "answered", last["kind"])
	require.Equal(t, "staging", last["answer"].(map[string]any)["value"])

	_, err = do(t, b.store, cmdAnswer, "question", "s9-c9-nope", "x")
	require.ErrorIs(t, err, ratchet.ErrUnknownInterrupt)

	// A cancelled run's interrupts are no longer pending.
	_, q2 := b.waitingRun(t, "cancel-me", ask, "ok")
	_, err = do(t, b.store, cmdCancel, "cancel-me")
	require.NoError(t, err)
	_, err = do(t, b.store, cmdAnswer, "cancel-me", q2.ID, "staging")
	require.ErrorIs(t, err, ratchet.ErrRunEnded)
	info, err := b.store.Get(ctx, "cancel-me")
	require.NoError(t, err)
	require.Equal(t, "cancelled", info.Status)
	require.True(t, info.WakeAt.IsZero())
}
