package ratchet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// userEvents returns the event messages of msgs, in order.
func userEvents(msgs []ratchet.Message) []string {
	var out []string
	for _, m := range msgs {
		if m.Role == ratchet.RoleUser && strings.HasPrefix(m.Content, "[event ") {
			out = append(out, m.Content)
		}
	}
	return out
}

func TestInboxID(t *testing.T) {
	t.Parallel()
	require.Equal(t, "inbox.run-1", ratchet.InboxID("run-1"))
	long := strings.Repeat("x", store.MaxIDLen)
	id := ratchet.InboxID(long)
	require.NoError(t, store.ValidateID(id))
	require.True(t, strings.HasPrefix(id, "inbox_"))
	require.NotEqual(t, id, ratchet.InboxID(strings.Repeat("y", store.MaxIDLen)))
	require.NoError(t, store.ValidateID(ratchet.InboxID(strings.Repeat("z", store.MaxIDLen-6))))
}

func TestSendToRunSteppedByAnotherScheduler(t *testing.T) {
	t.Parallel()
	a := setupSched(t, nil)
	bt := newBlockTool()
	model := toolThenAnswer(t, "block", `{"text":"x"}`)
	a.agent(t, "busy", model, []ratchet.Tool{bt.tool()}, nil)
	b := setupSched(t, &ratchet.SchedulerConfig{Store: a.store, Clock: a.clock, Owner: "sched-2"})
	ctx := context.Background()
	require.NoError(t, a.sched.Start(ctx))
	require.NoError(t, b.sched.Start(ctx))

	id, err := a.sched.StartRun(ctx, "busy", "work", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bt.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
	for _, d := range []string{"one", "two", "three"} {
		require.NoError(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "m", Data: json.RawMessage(`"` + d + `"`)}))
	}
	// Queued in the inbox, not in the run's log, while A steps the run.
	in, err := a.store.Get(ctx, ratchet.InboxID(id))
	require.NoError(t, err)
	require.Equal(t, ratchet.InboxAgent, in.Agent)
	require.Equal(t, id, in.Labels[ratchet.InboxLabel])
	require.EqualValues(t, 3, in.LastSeq)
	st, err := ratchet.LoadState(ctx, a.store, id)
	require.NoError(t, err)
	require.Empty(t, userEvents(st.Messages))
	require.Zero(t, st.InboxSeq)

	close(bt.release)
	waitStatus(t, a.store, id, ratchet.StatusSucceeded)
	reqs := model.Requests()
	want := []string{"[event m] one", "[event m] two", "[event m] three"}
	require.Equal(t, want, userEvents(reqs[len(reqs)-1].Messages), "the next model call has the events in order")
	st, err = ratchet.LoadState(ctx, a.store, id)
	require.NoError(t, err)
	require.Equal(t, want, userEvents(st.Messages))
	require.EqualValues(t, 3, st.InboxSeq)
	in, err = a.store.Get(ctx, ratchet.InboxID(id))
	require.NoError(t, err)
	require.Equal(t, "drained", in.Status)
	require.ErrorIs(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "late"}), ratchet.ErrRunEnded)
}

func TestSendToWaitingRunHeldByDeadOwner(t *testing.T) {
	t.Parallel()
	a, b, id := startWaiterForSend(t)
	ctx := context.Background()
	// An owner that died holds the waiting run for 5 more seconds.
	now := a.clock.Now()
	_, err := a.store.(store.Leaser).AcquireLease(ctx, id, "dead-owner", now, now.Add(5*time.Second))
	require.NoError(t, err)
	require.NoError(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "note", Data: json.RawMessage(`"first"`)}))
	require.NoError(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "paid", Data: json.RawMessage(`{"amount":5}`)}))
	info, err := a.store.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, string(ratchet.StatusWaiting), info.Status)

	// Once the lease expired, a poll finds the pending inbox.
	for range 6 {
		require.True(t, a.clock.WaitForWaiters(1, 5*time.Second))
		a.clock.Advance(time.Second)
	}
	waitStatus(t, a.store, id, ratchet.StatusSucceeded)
	st, err := ratchet.LoadState(ctx, a.store, id)
	require.NoError(t, err)
	require.Equal(t, "result: [event note] first", st.Output)
	require.Equal(t, `{"amount":5}`, st.Messages[len(st.Messages)-3].Content)
	require.EqualValues(t, 2, st.InboxSeq)
}

// A later event sent once the holder let the run go does not overtake an
// earlier one still in the inbox.
func TestSendAfterInboxKeepsOrder(t *testing.T) {
	t.Parallel()
	a, b, id := startWaiterForSend(t)
	ctx := context.Background()
	now := a.clock.Now()
	l, err := a.store.(store.Leaser).AcquireLease(ctx, id, "other", now, now.Add(time.Minute))
	require.NoError(t, err)
	require.NoError(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "note", Data: json.RawMessage(`"first"`)}))
	// The holder lets go without looking at the inbox; the next Send
	// delivers the inbox first.
	require.NoError(t, a.store.(store.Leaser).ReleaseLease(ctx, id, l))
	require.NoError(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "paid", Data: json.RawMessage(`{"amount":5}`)}))
	st, err := ratchet.LoadState(ctx, a.store, id)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusRunning, st.Status)
	require.EqualValues(t, 1, st.InboxSeq, "the inbox went first")
	// B has no worker for the agent: A's next poll continues the run.
	require.True(t, a.clock.WaitForWaiters(1, 5*time.Second))
	a.clock.Advance(time.Second)
	waitStatus(t, a.store, id, ratchet.StatusSucceeded)
	st, err = ratchet.LoadState(ctx, a.store, id)
	require.NoError(t, err)
	require.Equal(t, "result: [event note] first", st.Output)
	require.EqualValues(t, 1, st.InboxSeq)
}

func TestInboxDeliveryExactlyOnceAfterFailedAppend(t *testing.T) {
	t.Parallel()
	for _, mode := range []ratchettest.FaultMode{ratchettest.FaultBefore, ratchettest.FaultAfter} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			t.Parallel()
			mem := store.NewMemory(nil)
			fs := ratchettest.NewFaultStore(mem)
			var logs syncBuffer
			a := setupSched(t, &ratchet.SchedulerConfig{Store: fs.Store(), PollInterval: time.Second,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			bt := newBlockTool()
			model := toolThenAnswer(t, "block", `{"text":"x"}`)
			a.agent(t, "busy", model, []ratchet.Tool{bt.tool()}, nil)
			// The sender writes to the store as it is; only A's appends fail.
			b := setupSched(t, &ratchet.SchedulerConfig{Store: mem, Clock: a.clock, Owner: "sched-2"})
			ctx := context.Background()
			require.NoError(t, a.sched.Start(ctx))

			id, err := a.sched.StartRun(ctx, "busy", "work", nil)
			require.NoError(t, err)
			require.Eventually(t, func() bool { return bt.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
			require.NoError(t, b.sched.Send(ctx, id, ratchet.RunEvent{Name: "m", Data: json.RawMessage(`"once"`)}))
			// A appends tool_finished, then, at its checkpoint, the event:
			// that append fails (before or after it is durable).
			fs.FailAppend(fs.Appends()+2, mode, ratchettest.ErrIO())
			close(bt.release)
			// Unless the worker looked at the run again at once, the next
			// poll recovers it.
			waitReleased(t, mem, id)
			if info, err := mem.Get(ctx, id); err == nil && info.Status != string(ratchet.StatusSucceeded) {
				require.True(t, a.clock.WaitForWaiters(1, 5*time.Second))
				a.clock.Advance(time.Second)
			}
			waitStatus(t, mem, id, ratchet.StatusSucceeded)
			st, err := ratchet.LoadState(ctx, mem, id)
			require.NoError(t, err)
			require.Equal(t, []string{"[event m] once"}, userEvents(st.Messages))
			reqs := model.Requests()
			require.Equal(t, []string{"[event m] once"}, userEvents(reqs[len(reqs)-1].Messages))
			require.EqualValues(t, 1, st.InboxSeq)
			require.Contains(t, logs.String(), "ratchet scheduler: checkpoint", "the event's append failed")
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startWaiterForSend starts scheduler a (polling every second) with a run
// that waits for a "paid" event and lets go of it, and scheduler b (not
// started) over the same store and clock, to send from. It returns both
// and the run's ID.
func startWaiterForSend(t *testing.T) (a, b *schedBundle, id string) {
	t.Helper()
	a = setupSched(t, &ratchet.SchedulerConfig{PollInterval: time.Second})
	wait := ratchet.NewTool("wait", "Waits for a payment event.", func(ctx context.Context, in echoIn) (string, error) {
		return "", ratchet.WaitForEvent(in.Text, time.Time{})
	})
	a.agent(t, "waiter", toolThenAnswer(t, "wait", `{"text":"paid"}`), []ratchet.Tool{wait}, nil)
	b = setupSched(t, &ratchet.SchedulerConfig{Store: a.store, Clock: a.clock, Owner: "sched-2"})
	ctx := context.Background()
	require.NoError(t, a.sched.Start(ctx))
	id, err := a.sched.StartRun(ctx, "waiter", "wait for payment", nil)
	require.NoError(t, err)
	waitStatus(t, a.store, id, ratchet.StatusWaiting)
	waitReleased(t, a.store, id)
	return a, b, id
}
