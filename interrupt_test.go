package ratchet_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

func pendingOf(t *testing.T, b *schedBundle, id string) ratchet.PendingInterrupt {
	t.Helper()
	st, err := ratchet.LoadState(context.Background(), b.store, id)
	require.NoError(t, err)
	require.Len(t, st.Interrupts, 1)
	return st.Interrupts[0]
}

func lastToolMessage(t *testing.T, m interface{ Requests() []*ratchet.Request }) string {
	t.Helper()
	reqs := m.Requests()
	msgs := reqs[len(reqs)-1].Messages
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == ratchet.RoleTool {
			return msgs[i].Content
		}
	}
	return ""
}

func TestApprovalApproveOnceRejectTwice(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	var ran atomic.Int64
	risky := ratchet.NewTool("delete", "Deletes.", func(ctx context.Context, in echoIn) (string, error) {
		ran.Add(1)
		return "deleted " + in.Text, nil
	}, ratchet.NeedsApproval())
	m := toolThenAnswer(t, "delete", `{"text":"prod"}`)
	b.agent(t, "ops", m, []ratchet.Tool{risky}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))

	id, err := b.sched.StartRun(ctx, "ops", "clean up", nil)
	require.NoError(t, err)
	waitStatus(t, b.store, id, ratchet.StatusWaiting)
	waitReleased(t, b.store, id)
	p := pendingOf(t, b, id)
	require.Equal(t, ratchet.InterruptApproval, p.Kind)
	require.Equal(t, `{"text":"prod"}`, p.Args)
	require.Zero(t, ran.Load())

	require.NoError(t, b.sched.Answer(ctx, id, p.ID, ratchet.Answer{Approved: true}))
	err = b.sched.Answer(ctx, id, p.ID, ratchet.Answer{Approved: false, Reason: "too late"})
	require.ErrorIs(t, err, ratchet.ErrAlreadyAnswered)
	waitStatus(t, b.store, id, ratchet.StatusSucceeded)
	require.EqualValues(t, 1, ran.Load())
	before, _ := b.store.Get(ctx, id)
	require.ErrorIs(t, b.sched.Answer(ctx, id, p.ID, ratchet.Answer{Approved: true}), ratchet.ErrAlreadyAnswered)
	after, _ := b.store.Get(ctx, id)
	require.Equal(t, before.LastSeq, after.LastSeq)
	require.Equal(t, "deleted prod", lastToolMessage(t, m))

	// A rejection tells the model, with the reason.
	id2, err := b.sched.StartRun(ctx, "ops", "clean up", nil)
	require.NoError(t, err)
	waitStatus(t, b.store, id2, ratchet.StatusWaiting)
	p2 := pendingOf(t, b, id2)
	require.NoError(t, b.sched.Answer(ctx, id2, p2.ID, ratchet.Answer{Reason: "not on a Friday"}))
	waitStatus(t, b.store, id2, ratchet.StatusSucceeded)
	require.EqualValues(t, 1, ran.Load())
	require.Equal(t, "error: a person rejected this call: not on a Friday", lastToolMessage(t, m))
	require.ErrorIs(t, b.sched.Answer(ctx, id2, "nope", ratchet.Answer{}), ratchet.ErrRunEnded)
}

type askIn struct {
	Topic string `json:"topic"`
}

func askTool(deadline func() time.Time, def json.RawMessage) ratchet.Tool {
	return ratchet.NewTool("ask", "Asks a person.", func(ctx context.Context, in askIn) (string, error) {
		q := ratchet.Question{Prompt: "How many " + in.Topic + "?", Schema: json.RawMessage(`{"type":"integer","minimum":1}`), Default: def}
		if deadline != nil {
			q.Deadline = deadline()
		}
		return "", ratchet.Interrupt(q)
	})
}

func TestQuestionAnsweredByAnotherScheduler(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	m := toolThenAnswer(t, "ask", `{"topic":"apples"}`)
	b.agent(t, "asker", m, []ratchet.Tool{askTool(nil, nil)}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "asker", "count", nil)
	require.NoError(t, err)
	waitStatus(t, b.store, id, ratchet.StatusWaiting)
	require.NoError(t, b.sched.Stop(ctx))
	p := pendingOf(t, b, id)
	require.Equal(t, "How many apples?", p.Prompt)

	// Days later, another scheduler (as another process would).
	b.clock.Advance(72 * time.Hour)
	b2 := setupSched(t, &ratchet.SchedulerConfig{Store: b.store, Owner: "sched-2", Clock: b.clock})
	m2 := toolThenAnswer(t, "ask", `{"topic":"apples"}`)
	b2.agent(t, "asker", m2, []ratchet.Tool{askTool(nil, nil)}, nil)
	require.NoError(t, b2.sched.Start(ctx))
	require.ErrorIs(t, b2.sched.Answer(ctx, id, p.ID, ratchet.Answer{Value: json.RawMessage(`0`)}), ratchet.ErrInvalidAnswer)
	require.ErrorIs(t, b2.sched.Answer(ctx, id, "s9-c9-question1", ratchet.Answer{}), ratchet.ErrUnknownInterrupt)
	require.NoError(t, b2.sched.Answer(ctx, id, p.ID, ratchet.Answer{Value: json.RawMessage(`12`)}))
	waitStatus(t, b.store, id, ratchet.StatusSucceeded)
	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, "result: 12", st.Output)
}

func TestQuestionDeadlineDefault(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	m := toolThenAnswer(t, "ask", `{"topic":"pears"}`)
	b.agent(t, "asker", m, []ratchet.Tool{askTool(func() time.Time { return b.clock.Now().Add(time.Hour) }, json.RawMessage(`3`))}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "asker", "count", nil)
	require.NoError(t, err)
	info := waitStatus(t, b.store, id, ratchet.StatusWaiting)
	require.Equal(t, b.clock.Now().Add(time.Hour), info.WakeAt)
	b.clock.Advance(59 * time.Minute)
	require.True(t, b.clock.WaitForWaiters(1, 5*time.Second))
	info, _ = b.store.Get(ctx, id)
	require.Equal(t, string(ratchet.StatusWaiting), info.Status)
	b.clock.Advance(time.Minute)
	waitStatus(t, b.store, id, ratchet.StatusSucceeded)
	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, "result: 3", st.Output)
	p := st.Answered[0]
	require.ErrorIs(t, b.sched.Answer(ctx, id, p, ratchet.Answer{Value: json.RawMessage(`5`)}), ratchet.ErrAlreadyAnswered)
}

func TestSleepUntilSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	var wake time.Time
	nap := ratchet.NewTool("nap", "Sleeps a day.", func(ctx context.Context, in echoIn) (string, error) {
		wake = b.clock.Now().Add(24 * time.Hour)
		return "", ratchet.SleepUntil(wake)
	})
	b.agent(t, "sleeper", toolThenAnswer(t, "nap", `{"text":"x"}`), []ratchet.Tool{nap}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "sleeper", "rest", nil)
	require.NoError(t, err)
	info := waitStatus(t, b.store, id, ratchet.StatusSleeping)
	require.Equal(t, wake, info.WakeAt)
	require.NoError(t, b.sched.Stop(ctx))

	b2 := setupSched(t, &ratchet.SchedulerConfig{Store: b.store, Owner: "sched-2", Clock: b.clock})
	b2.agent(t, "sleeper", toolThenAnswer(t, "nap", `{"text":"x"}`), []ratchet.Tool{nap}, nil)
	require.NoError(t, b2.sched.Start(ctx))
	b.clock.Advance(24 * time.Hour)
	// Keep the clock moving while the loop waits on it (an Advance just
	// before it sets its timer is not seen by that timer).
	require.Eventually(t, func() bool {
		if b.clock.Waiters() > 0 {
			b.clock.Advance(time.Second)
		}
		info, err := b.store.Get(ctx, id)
		return err == nil && info.Status == string(ratchet.StatusSucceeded)
	}, 10*time.Second, time.Millisecond)
	st, _ := ratchet.LoadState(ctx, b.store, id)
	require.True(t, strings.HasPrefix(st.Output, "result: woke at "), st.Output)
}
