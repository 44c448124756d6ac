package ratchet_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

type schedBundle struct {
	store store.Store
	clock *ratchettest.Clock
	sched *ratchet.Scheduler
	ids   atomic.Int64
}

func setupSched(t *testing.T, cfg *ratchet.SchedulerConfig) *schedBundle {
	t.Helper()
	b := &schedBundle{
		store: store.NewMemory(nil),
		clock: ratchettest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
	}
	var c ratchet.SchedulerConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Store == nil {
		c.Store = b.store
	}
	b.store = c.Store
	if fc, ok := c.Clock.(*ratchettest.Clock); ok {
		b.clock = fc
	}
	c.Clock = b.clock
	if c.Owner == "" {
		c.Owner = "sched-1"
	}
	s, err := ratchet.NewScheduler(c)
	require.NoError(t, err)
	b.sched = s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.StopAndCancel(ctx)
	})
	return b
}

// toolThenAnswer is a model that calls tool with args once, then answers
// with the tool's result.
func toolThenAnswer(t *testing.T, tool, args string) *ratchettest.Model {
	return ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		last := req.Messages[len(req.Messages)-1]
		for _, m := range req.Messages {
			if m.Role == ratchet.RoleTool {
				return ratchettest.Text("result: " + last.Content)
			}
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: tool, Args: args})
	})
}

func (b *schedBundle) agent(t *testing.T, name string, m ratchet.Model, tools []ratchet.Tool, opts *ratchet.AgentOptions) *ratchet.Agent {
	t.Helper()
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: name, Model: m, Tools: tools, Store: b.store, Clock: b.clock,
		NewID:  func() string { return fmt.Sprintf("%s-%d", name, b.ids.Add(1)) },
		Random: func() float64 { return 0.5 },
	})
	require.NoError(t, err)
	require.NoError(t, b.sched.Register(a, opts))
	return a
}

func waitStatus(t *testing.T, s store.Store, id string, want ratchet.Status) store.RunInfo {
	t.Helper()
	var info store.RunInfo
	require.Eventually(t, func() bool {
		var err error
		info, err = s.Get(context.Background(), id)
		return err == nil && info.Status == string(want)
	}, 10*time.Second, time.Millisecond, "run %s never became %s (is %s)", id, want, info.Status)
	return info
}

func waitReleased(t *testing.T, s store.Store, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		info, err := s.Get(context.Background(), id)
		return err == nil && info.Lease.Owner == ""
	}, 10*time.Second, time.Millisecond, "lease on %s never released", id)
}

type echoIn struct {
	Text string `json:"text"`
}

func echoTool() ratchet.Tool {
	return ratchet.NewTool("echo", "Echoes its text.", func(ctx context.Context, in echoIn) (string, error) {
		return in.Text, nil
	})
}

// blockTool blocks each call until release is closed (or its context ends),
// counting calls in flight.
type blockTool struct {
	release  chan struct{}
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	calls    atomic.Int64
}

func newBlockTool() *blockTool { return &blockTool{release: make(chan struct{})} }

func (bt *blockTool) tool() ratchet.Tool {
	return ratchet.NewTool("block", "Blocks.", func(ctx context.Context, in echoIn) (string, error) {
		bt.calls.Add(1)
		n := bt.inFlight.Add(1)
		defer bt.inFlight.Add(-1)
		for {
			m := bt.maxSeen.Load()
			if n <= m || bt.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-bt.release:
			return "released " + in.Text, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}, ratchet.Idempotent())
}

func TestSchedulerStartRun(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	b.agent(t, "echoer", toolThenAnswer(t, "echo", `{"text":"hi"}`), []ratchet.Tool{echoTool()}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	var ids []string
	for range 20 {
		id, err := b.sched.StartRun(ctx, "echoer", "say hi", nil)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	for _, id := range ids {
		waitStatus(t, b.store, id, ratchet.StatusSucceeded)
		waitReleased(t, b.store, id)
		st, err := ratchet.LoadState(ctx, b.store, id)
		require.NoError(t, err)
		require.Equal(t, "result: hi", st.Output)
	}
	_, err := b.sched.StartRun(ctx, "nobody", "x", nil)
	require.ErrorIs(t, err, ratchet.ErrUnknownAgent)
	require.NoError(t, b.sched.Stop(ctx))
	<-b.sched.Stopped()
	_, err = b.sched.StartRun(ctx, "echoer", "x", nil)
	require.ErrorIs(t, err, ratchet.ErrSchedulerStopped)
}

func TestSchedulerLimits(t *testing.T) {
	t.Parallel()
	b := setupSched(t, &ratchet.SchedulerConfig{Workers: 3})
	limited, free := newBlockTool(), newBlockTool()
	b.agent(t, "limited", toolThenAnswer(t, "block", `{"text":"x"}`), []ratchet.Tool{limited.tool()}, &ratchet.AgentOptions{MaxConcurrent: 2})
	b.agent(t, "free", toolThenAnswer(t, "block", `{"text":"y"}`), []ratchet.Tool{free.tool()}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	var ids []string
	for range 5 {
		id, err := b.sched.StartRun(ctx, "limited", "go", nil)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	id, err := b.sched.StartRun(ctx, "free", "go", nil)
	require.NoError(t, err)
	ids = append(ids, id)
	// Two limited runs and the free one fill the three workers.
	require.Eventually(t, func() bool { return limited.inFlight.Load() == 2 && free.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(limited.release)
	close(free.release)
	for _, id := range ids {
		waitStatus(t, b.store, id, ratchet.StatusSucceeded)
	}
	require.EqualValues(t, 2, limited.maxSeen.Load())
	require.EqualValues(t, 5, limited.calls.Load())
}

func TestSchedulerRecoversExpiredLease(t *testing.T) {
	t.Parallel()
	b := setupSched(t, &ratchet.SchedulerConfig{PollInterval: time.Second, LeaseTTL: 30 * time.Second})
	a := b.agent(t, "echoer", toolThenAnswer(t, "echo", `{"text":"hi"}`), []ratchet.Tool{echoTool()}, nil)
	ctx := context.Background()
	// A dead process started the run and holds its lease for 10 more seconds.
	r, err := a.Start(ctx, "say hi", &ratchet.RunOptions{ID: "orphan"})
	require.NoError(t, err)
	require.NoError(t, r.Close(ctx)) // lease token 1, released
	now := b.clock.Now()
	_, err = b.store.(store.Leaser).AcquireLease(ctx, r.ID(), "dead-owner", now, now.Add(10*time.Second))
	require.NoError(t, err)

	require.NoError(t, b.sched.Start(ctx))
	for range 9 {
		require.True(t, b.clock.WaitForWaiters(1, 5*time.Second))
		b.clock.Advance(time.Second)
	}
	info, err := b.store.Get(ctx, "orphan")
	require.NoError(t, err)
	require.Equal(t, string(ratchet.StatusRunning), info.Status, "not taken over before expiry")
	require.Equal(t, "dead-owner", info.Lease.Owner)
	// Past expiry: keep the fake clock moving (the poll loop may not be
	// waiting at the very moment of one Advance) until the run is done.
	require.Eventually(t, func() bool {
		if b.clock.Waiters() > 0 {
			b.clock.Advance(time.Second)
		}
		info, err = b.store.Get(ctx, "orphan")
		return err == nil && info.Status == string(ratchet.StatusSucceeded)
	}, 10*time.Second, time.Millisecond)
	require.EqualValues(t, 3, info.Lease.Token, "taken over with a new token")
}

func TestSchedulerFencesStaleOwner(t *testing.T) {
	t.Parallel()
	b := setupSched(t, &ratchet.SchedulerConfig{LeaseTTL: 30 * time.Second, PollInterval: time.Hour})
	bt, id := startBlocked(t, b)
	ctx := context.Background()
	// Another owner takes the lease over (as if ours had expired while the
	// process was frozen); our tool then finishes and its append is fenced.
	before, err := b.store.Get(ctx, id)
	require.NoError(t, err)
	later := b.clock.Now().Add(time.Minute)
	_, err = b.store.(store.Leaser).AcquireLease(ctx, id, "thief", later, later.Add(time.Minute))
	require.NoError(t, err)
	close(bt.release)
	require.Eventually(t, func() bool { return bt.inFlight.Load() == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, b.sched.Stop(ctx))
	after, err := b.store.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, before.LastSeq, after.LastSeq, "stale owner wrote nothing")
	require.Equal(t, "thief", after.Lease.Owner)
}

func TestSchedulerGracefulStop(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	bt, id := startBlocked(t, b)
	ctx := context.Background()
	stopErr := make(chan error, 1)
	go func() { stopErr <- b.sched.Stop(ctx) }()
	select {
	case <-b.sched.Stopped():
		t.Fatal("stopped with a step in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(bt.release)
	require.NoError(t, <-stopErr)
	// The step finished (tool result persisted) but no new step started.
	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusRunning, st.Status)
	require.Equal(t, 1, st.Step)
	require.Nil(t, st.Calls)
	info, err := b.store.Get(ctx, id)
	require.NoError(t, err)
	require.Empty(t, info.Lease.Owner)

	// A new scheduler continues it.
	b2 := setupSched(t, &ratchet.SchedulerConfig{Store: b.store, Owner: "sched-2"})
	b2.agent(t, "blocker", toolThenAnswer(t, "block", `{"text":"x"}`), []ratchet.Tool{bt.tool()}, nil)
	require.NoError(t, b2.sched.Start(ctx))
	waitStatus(t, b.store, id, ratchet.StatusSucceeded)
}

func TestSchedulerStopDeadlineCancels(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	_, id := startBlocked(t, b)
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.sched.Stop(sctx), context.DeadlineExceeded)
	<-b.sched.Stopped()
	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusRunning, st.Status)
	require.NotNil(t, st.Calls, "the interrupted call stays open")
}

func TestSchedulerManyAgentsRace(t *testing.T) {
	t.Parallel()
	b := setupSched(t, &ratchet.SchedulerConfig{Workers: 4})
	var mu sync.Mutex
	names := []string{"a", "b", "c"}
	for _, n := range names {
		b.agent(t, n, toolThenAnswer(t, "echo", `{"text":"`+n+`"}`), []ratchet.Tool{echoTool()}, &ratchet.AgentOptions{MaxConcurrent: 1})
	}
	ctx := context.Background()
	var ids []string
	// Runs started before Start are queued and dispatched by Start.
	for i := range 30 {
		id, err := b.sched.StartRun(ctx, names[i%3], "go", nil)
		require.NoError(t, err)
		mu.Lock()
		ids = append(ids, id)
		mu.Unlock()
	}
	require.NoError(t, b.sched.Start(ctx))
	for _, id := range ids {
		waitStatus(t, b.store, id, ratchet.StatusSucceeded)
		st, err := ratchet.LoadState(ctx, b.store, id)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(st.Output, "result: "))
	}
}

// startBlocked starts b with a "blocker" agent and a run of it, and
// returns once the run's step is inside its tool, which blocks until
// bt.release is closed.
func startBlocked(t *testing.T, b *schedBundle) (bt *blockTool, id string) {
	t.Helper()
	bt = newBlockTool()
	b.agent(t, "blocker", toolThenAnswer(t, "block", `{"text":"x"}`), []ratchet.Tool{bt.tool()}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "blocker", "go", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bt.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
	return bt, id
}
