package ratchet_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

func TestSendToWaitingAndBusyRuns(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	wait := ratchet.NewTool("wait", "Waits for a payment event.", func(ctx context.Context, in echoIn) (string, error) {
		return "", ratchet.WaitForEvent(in.Text, time.Time{})
	})
	b.agent(t, "waiter", toolThenAnswer(t, "wait", `{"text":"paid"}`), []ratchet.Tool{wait}, nil)
	bt := newBlockTool()
	busyModel := toolThenAnswer(t, "block", `{"text":"x"}`)
	b.agent(t, "busy", busyModel, []ratchet.Tool{bt.tool()}, nil)
	bt2 := newBlockTool()
	b.agent(t, "strict", toolThenAnswer(t, "block", `{"text":"x"}`), []ratchet.Tool{bt2.tool()}, &ratchet.AgentOptions{OnBusy: ratchet.BusyReject})
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))

	// An event delivered to a run waiting for it becomes the tool's result;
	// another event queued before it goes to the model as a message.
	id, err := b.sched.StartRun(ctx, "waiter", "wait for payment", nil)
	require.NoError(t, err)
	waitStatus(t, b.store, id, ratchet.StatusWaiting)
	waitReleased(t, b.store, id)
	require.NoError(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "note", Data: json.RawMessage(`"first"`)}))
	require.NoError(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "paid", Data: json.RawMessage(`{"amount":5}`)}))
	waitStatus(t, b.store, id, ratchet.StatusSucceeded)
	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, "result: [event note] first", st.Output, "queued message follows the tool result")
	n := len(st.Messages)
	require.Equal(t, `{"amount":5}`, st.Messages[n-3].Content)
	require.ErrorIs(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "late"}), ratchet.ErrRunEnded)

	// A busy run queues events, in order, for its next step.
	id2, err := b.sched.StartRun(ctx, "busy", "work", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bt.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
	sent := make(chan error, 2)
	go func() { sent <- b.sched.Send(ctx, id2, ratchet.RunEvent{Name: "m", Data: json.RawMessage(`"one"`)}) }()
	time.Sleep(10 * time.Millisecond) // let the first Send reach the inbox
	go func() { sent <- b.sched.Send(ctx, id2, ratchet.RunEvent{Name: "m", Data: json.RawMessage(`"two"`)}) }()
	time.Sleep(10 * time.Millisecond)
	close(bt.release)
	require.NoError(t, <-sent)
	require.NoError(t, <-sent)
	waitStatus(t, b.store, id2, ratchet.StatusSucceeded)
	st2, err := ratchet.LoadState(ctx, b.store, id2)
	require.NoError(t, err)
	var contents []string
	for _, m := range st2.Messages {
		if m.Role == ratchet.RoleUser {
			contents = append(contents, m.Content)
		}
	}
	require.Equal(t, []string{"work", "[event m] one", "[event m] two"}, contents)

	// OnBusy reject.
	id3, err := b.sched.StartRun(ctx, "strict", "work", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bt2.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, b.sched.Send(ctx, id3, ratchet.RunEvent{Name: "m"}), ratchet.ErrRunBusy)
	close(bt2.release)
	waitStatus(t, b.store, id3, ratchet.StatusSucceeded)
}

// sendOnEnd sends an event to a run from the Observer, as soon as the
// run's end is persisted (while the worker still holds it).
type sendOnEnd struct {
	sched func() *ratchet.Scheduler
	errs  chan error
}

func (o *sendOnEnd) Observe(ctx context.Context, e ratchet.Event) {
	if e.Kind == ratchet.EventRunEnded {
		go func() { o.errs <- o.sched().Send(context.Background(), e.RunID, ratchet.RunEvent{Name: "late"}) }()
		// Hold the worker so that the Send finds it still holding the run
		// (it is queued for the worker's next checkpoint).
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSendToARunThatJustEnded: an event sent while the worker holds a run
// that has just ended is refused with ErrRunEnded, and nothing is appended
// to the ended run.
func TestSendToARunThatJustEnded(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	obs := &sendOnEnd{sched: func() *ratchet.Scheduler { return b.sched }, errs: make(chan error, 1)}
	a, err := ratchet.NewAgent(ratchet.Config{Name: "ender", Model: ratchettest.NewModel(t, ratchettest.Text("done")), Store: b.store,
		Clock: b.clock, Observer: obs})
	require.NoError(t, err)
	require.NoError(t, b.sched.Register(a, nil))
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "ender", "go", nil)
	require.NoError(t, err)
	select {
	case err := <-obs.errs:
		require.ErrorIs(t, err, ratchet.ErrRunEnded)
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return")
	}
	info, err := b.store.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, string(ratchet.StatusSucceeded), info.Status)
	require.EqualValues(t, 3, info.LastSeq, "nothing appended after run_completed")
}
