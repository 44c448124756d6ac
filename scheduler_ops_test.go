package ratchet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// TestSchedulerReloadsAfterOperatorCancel: an operator cancels (from
// another process, through the store) a run a scheduler is stepping. The
// scheduler's next append conflicts; it loads the run again, sees it
// cancelled, stops and releases its lease at once instead of holding it
// until it expires.
func TestSchedulerReloadsAfterOperatorCancel(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	ctx := context.Background()
	bt := newBlockTool()
	b.agent(t, "ops", toolThenAnswer(t, "block", `{"text":"x"}`), []ratchet.Tool{bt.tool()}, nil)
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "ops", "go", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bt.inFlight.Load() == 1 }, 10*time.Second, time.Millisecond)

	_, err = ratchet.CancelRun(ctx, b.store, b.clock, id, "not needed")
	require.NoError(t, err)
	close(bt.release) // the tool finishes; its result's append conflicts

	waitReleased(t, b.store, id)
	info := waitStatus(t, b.store, id, ratchet.StatusCancelled)
	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusCancelled, st.Status)
	require.Equal(t, info.LastSeq, st.Seq, "nothing was appended after the cancellation")
}

// TestSchedulerContinuesAfterOperatorRetry: a run paused by its budget is
// retried with a raised budget from outside; a running scheduler picks it
// up and finishes it.
func TestSchedulerContinuesAfterOperatorRetry(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	ctx := context.Background()
	a := b.agent(t, "retry", toolThenAnswer(t, "echo", `{"text":"hi"}`), []ratchet.Tool{echoTool()}, nil)
	run, err := a.Start(ctx, "go", &ratchet.RunOptions{Budget: &ratchet.Budget{MaxSteps: 1}})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.ErrorIs(t, err, ratchet.ErrBudgetExceeded)
	require.NoError(t, b.sched.Start(ctx)) // after the pause: the run is not due until retried

	_, err = ratchet.RetryRun(ctx, b.store, b.clock, run.ID(), &ratchet.Budget{MaxSteps: 10})
	require.NoError(t, err)
	// The scheduler's next poll finds it due. (The clock is moved while
	// the loop waits on it: an Advance just before it sets its timer would
	// be missed.)
	require.Eventually(t, func() bool {
		if b.clock.Waiters() > 0 {
			b.clock.Advance(ratchet.PollIntervalDefault)
		}
		info, err := b.store.Get(ctx, run.ID())
		return err == nil && info.Status == string(ratchet.StatusSucceeded)
	}, 10*time.Second, time.Millisecond)
}

// With a Retention, the scheduler deletes its agents' runs that ended
// longer ago than that (and their inboxes); runs that have not ended, and
// runs of agents it does not drive, stay.
func TestSchedulerRetention(t *testing.T) {
	t.Parallel()
	b := setupSched(t, &ratchet.SchedulerConfig{Retention: time.Hour})
	b.agent(t, "echoer", toolThenAnswer(t, "echo", `{"text":"hi"}`), []ratchet.Tool{echoTool()}, nil)
	ctx := context.Background()
	// A run of an agent this scheduler does not drive, ended.
	other, err := ratchet.NewAgent(ratchet.Config{Name: "other", Model: ratchettest.NewModel(t, ratchettest.Text("x")), Store: b.store, Clock: b.clock,
		NewID: func() string { return "other-1" }})
	require.NoError(t, err)
	_, err = other.Run(ctx, "x", nil)
	require.NoError(t, err)
	require.NoError(t, b.sched.Start(ctx))
	done, err := b.sched.StartRun(ctx, "echoer", "say hi", nil)
	require.NoError(t, err)
	waitStatus(t, b.store, done, ratchet.StatusSucceeded)
	waitReleased(t, b.store, done)
	require.NoError(t, b.store.Create(ctx, store.RunInfo{ID: ratchet.InboxID(done), Agent: ratchet.InboxAgent}, [][]byte{[]byte(`{}`)}))
	// One that has not ended: waiting for an answer.
	ask := ratchet.NewTool("ask", "Asks.", func(ctx context.Context, in struct{}) (string, error) {
		return "", ratchet.Interrupt(ratchet.Question{Prompt: "ok?"})
	})
	b.agent(t, "asker", ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		return ratchettest.ToolCalls(ratchettest.Call{Name: "ask", Args: `{}`})
	}), []ratchet.Tool{ask}, nil)
	waiting, err := b.sched.StartRun(ctx, "asker", "ask", nil)
	require.NoError(t, err)
	waitStatus(t, b.store, waiting, ratchet.StatusWaiting)

	b.clock.Advance(30 * time.Minute) // not yet
	time.Sleep(20 * time.Millisecond) // let a prune that should not happen have its chance
	_, err = b.store.Get(ctx, done)
	require.NoError(t, err)

	b.clock.Advance(2 * time.Hour)
	require.Eventually(t, func() bool {
		if b.clock.Waiters() > 0 {
			b.clock.Advance(time.Minute) // while the loop waits on the clock
		}
		_, err := b.store.Get(ctx, done)
		return errors.Is(err, store.ErrNotFound)
	}, 10*time.Second, time.Millisecond, "the ended run is deleted")
	_, err = b.store.Get(ctx, ratchet.InboxID(done))
	require.ErrorIs(t, err, store.ErrNotFound, "with its inbox")
	for _, id := range []string{waiting, "other-1"} {
		_, err = b.store.Get(ctx, id)
		require.NoError(t, err, id)
	}
	_, err = ratchet.NewScheduler(ratchet.SchedulerConfig{Store: b.store, Retention: -time.Second})
	require.Error(t, err)
}

// staleList is a store whose List of running runs, once armed, answers
// with a listing taken before the run ended, as a poll that read the index
// just before a worker finished the run would.
type staleList struct {
	*store.Memory
	mu       sync.Mutex
	stale    []store.RunInfo // nil: not armed
	gets     int             // Gets of the stale run since armed
	acquires int             // AcquireLease calls on it since armed
}

func (s *staleList) List(ctx context.Context, q store.Query) ([]store.RunInfo, error) {
	s.mu.Lock()
	stale := s.stale
	s.mu.Unlock()
	if stale != nil && len(q.Statuses) == 1 && q.Statuses[0] == string(ratchet.StatusRunning) {
		return stale, nil
	}
	return s.Memory.List(ctx, q)
}

func (s *staleList) Get(ctx context.Context, id string) (store.RunInfo, error) {
	s.mu.Lock()
	if len(s.stale) > 0 && id == s.stale[0].ID {
		s.gets++
	}
	s.mu.Unlock()
	return s.Memory.Get(ctx, id)
}

func (s *staleList) AcquireLease(ctx context.Context, id, owner string, now, until time.Time) (store.Lease, error) {
	s.mu.Lock()
	if len(s.stale) > 0 && id == s.stale[0].ID {
		s.acquires++
	}
	s.mu.Unlock()
	return s.Memory.AcquireLease(ctx, id, owner, now, until)
}

// A run that a (stale) poll lists as running but that has ended is not
// leased again: the worker finds it ended first.
func TestSchedulerSkipsAnEndedRunAPollListed(t *testing.T) {
	t.Parallel()
	st := &staleList{Memory: store.NewMemory(nil)}
	b := setupSched(t, &ratchet.SchedulerConfig{Store: st})
	b.agent(t, "echoer", toolThenAnswer(t, "echo", `{"text":"hi"}`), []ratchet.Tool{echoTool()}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "echoer", "say hi", nil)
	require.NoError(t, err)
	waitStatus(t, st, id, ratchet.StatusSucceeded)
	waitReleased(t, st, id)
	ended, err := st.Memory.Get(ctx, id)
	require.NoError(t, err)
	listed := ended
	listed.Status = string(ratchet.StatusRunning)
	st.mu.Lock()
	st.stale = []store.RunInfo{listed}
	st.mu.Unlock()

	require.Eventually(t, func() bool {
		if b.clock.Waiters() > 0 {
			b.clock.Advance(ratchet.PollIntervalDefault)
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.gets > 0 || st.acquires > 0
	}, 10*time.Second, time.Millisecond, "a worker looked at the run")
	st.mu.Lock()
	require.Zero(t, st.acquires, "no lease taken on an ended run")
	st.mu.Unlock()
	after, err := st.Memory.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, ended, after)
}
