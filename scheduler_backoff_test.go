package ratchet_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

func TestStoreFailurePolicyDelay(t *testing.T) {
	t.Parallel()
	var def ratchet.StoreFailurePolicy
	noJitter := ratchet.StoreFailurePolicy{Jitter: -1}
	for _, tc := range []struct {
		p    ratchet.StoreFailurePolicy
		n    int
		rnd  float64
		want time.Duration
	}{
		{noJitter, 1, 0.9, time.Second},
		{noJitter, 2, 0.9, 2 * time.Second},
		{noJitter, 4, 0.9, 8 * time.Second},
		{noJitter, 30, 0.9, 5 * time.Minute},
		{def, 1, 0, time.Second},
		{def, 1, 0.5, 750 * time.Millisecond},
		{def, 3, 0.999999999, 2 * time.Second},
		{def, 40, 0, 5 * time.Minute},
		{ratchet.StoreFailurePolicy{InitialDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, Jitter: 1}, 3, 0.5, 2 * time.Millisecond},
		{def, 0, 0, time.Second},
	} {
		require.Equal(t, tc.want, tc.p.Delay(tc.n, tc.rnd).Round(time.Millisecond), "%+v n=%d rnd=%g", tc.p, tc.n, tc.rnd)
	}
}

// eventLog is an Observer keeping the events it sees.
type eventLog struct {
	mu     sync.Mutex
	events []ratchet.Event
}

func (l *eventLog) Observe(_ context.Context, e ratchet.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) suspended(runID string) []ratchet.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ratchet.Event
	for _, e := range l.events {
		if e.Kind == ratchet.EventRunSuspended && e.RunID == runID {
			out = append(out, e)
		}
	}
	return out
}

// pricedAgent registers an agent whose every model call (10 tokens in, 5
// out, as ratchettest replies) costs $2.
func (b *schedBundle) pricedAgent(t *testing.T, name string, m ratchet.Model, tools []ratchet.Tool, obs ratchet.Observer) *ratchet.Agent {
	t.Helper()
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: name, Model: m, ModelName: "m", Tools: tools, Store: b.store, Clock: b.clock,
		Pricing:  ratchet.Pricing{"m": {InputPerMTok: 1e5, OutputPerMTok: 2e5}},
		Observer: obs,
		NewID:    func() string { return fmt.Sprintf("%s-%d", name, b.ids.Add(1)) },
		Random:   func() float64 { return 0.5 },
	})
	require.NoError(t, err)
	require.NoError(t, b.sched.Register(a, nil))
	return a
}

// advance moves the fake clock by d, n times, each time once the
// scheduler's loop waits on it, and gives the workers a moment to act on
// it (a pace, not an assertion: work not done yet only makes the bounds
// checked after it easier to meet).
func (b *schedBundle) advance(t *testing.T, n int, d time.Duration) {
	t.Helper()
	for range n {
		require.True(t, b.clock.WaitForWaiters(1, 10*time.Second))
		b.clock.Advance(d)
		time.Sleep(time.Millisecond)
	}
}

// until moves the fake clock by d whenever the loop waits, until cond.
func (b *schedBundle) until(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		if b.clock.Waiters() > 0 {
			b.clock.Advance(d)
		}
		return cond()
	}, 20*time.Second, time.Millisecond, msg)
}

// untilStatus moves the fake clock by d whenever the loop waits, until
// every run of ids has status want.
func (b *schedBundle) untilStatus(t *testing.T, d time.Duration, want ratchet.Status, ids ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		if b.clock.Waiters() > 0 {
			b.clock.Advance(d)
		}
		for _, id := range ids {
			info, err := b.store.Get(context.Background(), id)
			if err != nil || info.Status != string(want) {
				return false
			}
		}
		return true
	}, 20*time.Second, time.Millisecond, "runs never all %s", want)
}

// TestSchedulerPausesRunOnRecordTooLarge: an idempotent tool whose result
// is over the store's record limit ran again at every poll, forever. Its
// result is now cut to fit (it ran once); the model's answer, which echoes
// it and is over the limit, pauses the run at once with a model error
// (kind model:response_too_large) in the pause record, an observer event,
// and the store's index (runs -status paused); polls do not call the
// model again.
func TestSchedulerPausesRunOnRecordTooLarge(t *testing.T) {
	t.Parallel()
	b := setupSched(t, &ratchet.SchedulerConfig{Store: store.NewMemory(&store.MemoryOptions{MaxRecordSize: 4096}), PollInterval: time.Second})
	var calls int64
	var mu sync.Mutex
	big := ratchet.NewTool("big", "Returns a lot.", func(ctx context.Context, in echoIn) (string, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return strings.Repeat("x", 10000), nil
	}, ratchet.Idempotent())
	// The answer echoes the tool's result twice: the result is cut to
	// just under the limit, by an amount that depends on the size of its
	// record's other fields (its active time varies with the clock), so
	// one echo may fit.
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		last := req.Messages[len(req.Messages)-1]
		if last.Role == ratchet.RoleTool {
			return ratchettest.Text("result: " + last.Content + last.Content)
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "big", Args: `{"text":"x"}`})
	})
	obs := &eventLog{}
	b.pricedAgent(t, "big", m, []ratchet.Tool{big}, obs)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	id, err := b.sched.StartRun(ctx, "big", "go", nil)
	require.NoError(t, err)
	b.untilStatus(t, time.Second, ratchet.StatusPaused, id)
	b.advance(t, 20, time.Second) // polls and backoffs pass
	mu.Lock()
	require.EqualValues(t, 1, calls, "the tool ran again")
	mu.Unlock()
	require.Equal(t, 2, m.Calls(), "the model was called again")

	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusPaused, st.Status)
	require.NotNil(t, st.Error)
	require.Equal(t, "model:response_too_large", st.Error.Kind)
	require.Contains(t, st.Error.Message, "record limit of 4096 bytes")
	paused, err := b.store.List(ctx, store.Query{Statuses: []string{string(ratchet.StatusPaused)}})
	require.NoError(t, err)
	require.Len(t, paused, 1)
	require.Equal(t, id, paused[0].ID)
	ev := obs.suspended(id)
	require.NotEmpty(t, ev)
	var ei *ratchet.ErrorInfo
	require.ErrorAs(t, ev[len(ev)-1].Err, &ei)
	require.Equal(t, "model:response_too_large", ei.Kind)
	waitReleased(t, b.store, id)
}

// TestSchedulerDiskFullBoundsModelCalls: with every append failing for a
// full disk, the model was called again at every poll for every run, and
// no budget counted those calls. Now each run makes at most the one call
// whose response could not be stored, the circuit then stops all calls
// (however long the outage), and once the store recovers the responses
// held are written (not asked for again) and every run succeeds with
// persisted usage and cost that count every call made.
func TestSchedulerDiskFullBoundsModelCalls(t *testing.T) {
	t.Parallel()
	fst := ratchettest.NewFaultStore(store.NewMemory(nil))
	b := setupSched(t, &ratchet.SchedulerConfig{Store: fst.Store(), PollInterval: time.Second, Workers: 2})
	m := toolThenAnswer(t, "echo", `{"text":"hi"}`)
	b.pricedAgent(t, "echoer", m, []ratchet.Tool{echoTool()}, nil)
	ctx := context.Background()
	const runs = 5
	var ids []string
	for range runs {
		id, err := b.sched.StartRun(ctx, "echoer", "go", nil)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	fst.FailAppends(ratchettest.ErrDiskFull())
	require.NoError(t, b.sched.Start(ctx))
	b.until(t, time.Second, b.sched.StoreCircuitOpen, "the circuit never opened")
	b.advance(t, 120, 30*time.Second) // an hour of outage
	require.True(t, b.sched.StoreCircuitOpen())
	failing := m.Calls()
	require.LessOrEqual(t, failing, runs, "more than one model call per run while the disk is full")
	require.Positive(t, failing)
	appends := fst.Appends()
	require.Less(t, appends, 60, "the store is hammered")

	fst.FailAppends(nil)
	b.untilStatus(t, time.Second, ratchet.StatusSucceeded, ids...)
	require.False(t, b.sched.StoreCircuitOpen())
	total := m.Calls()
	require.Equal(t, 2*runs, total, "a response that could not be stored was written once the store recovered: not asked again")
	var usage ratchet.Usage
	var cost, indexCost float64
	var indexIn int64
	for _, id := range ids {
		st, err := ratchet.LoadState(ctx, b.store, id)
		require.NoError(t, err)
		usage = usage.Add(st.Usage)
		cost += st.CostUSD
		info, err := b.store.Get(ctx, id)
		require.NoError(t, err)
		indexCost += info.Totals.CostUSD
		indexIn += info.Totals.InputTokens
	}
	require.Equal(t, ratchet.Usage{InputTokens: int64(10 * total), OutputTokens: int64(5 * total)}, usage)
	require.InDelta(t, 2*float64(total), cost, 1e-9)
	require.InDelta(t, 2*float64(total), indexCost, 1e-9)
	require.EqualValues(t, 10*total, indexIn)
}

// runFaults fails the appends to one run that carry a model response,
// with err, and passes everything else: a store that works but cannot take
// this run's steps.
type runFaults struct {
	*store.Memory
	run string
	err error
}

func (f *runFaults) Append(ctx context.Context, bt store.Batch) error {
	if bt.RunID == f.run {
		for _, rec := range bt.Records {
			if strings.Contains(string(rec), `"kind":"model_responded"`) {
				return fmt.Errorf("runFaults: %w", f.err)
			}
		}
	}
	return f.Memory.Append(ctx, bt)
}

// TestSchedulerPausesAfterMaxTransientFailures: a run whose steps fail
// with an I/O error while the store serves its other writes was stepped,
// and its model called, at every poll. Now it backs off, retrying the
// write of the response it holds (no model call), and is paused after
// MaxFailures failures (kind store:io), the one call's spend in its
// persisted cost (a usage record); another run on the store succeeds.
func TestSchedulerPausesAfterMaxTransientFailures(t *testing.T) {
	t.Parallel()
	rf := &runFaults{Memory: store.NewMemory(nil), run: "echoer-1", err: ratchettest.ErrIO()}
	b := setupSched(t, &ratchet.SchedulerConfig{Store: rf, PollInterval: time.Second,
		StoreFailures: ratchet.StoreFailurePolicy{MaxFailures: 3, CircuitFailures: -1}})
	m := toolThenAnswer(t, "echo", `{"text":"hi"}`)
	b.pricedAgent(t, "echoer", m, []ratchet.Tool{echoTool()}, nil)
	ctx := context.Background()
	require.NoError(t, b.sched.Start(ctx))
	bad, err := b.sched.StartRun(ctx, "echoer", "go", nil)
	require.NoError(t, err)
	good, err := b.sched.StartRun(ctx, "echoer", "go", nil)
	require.NoError(t, err)
	b.untilStatus(t, time.Second, ratchet.StatusSucceeded, good)
	b.untilStatus(t, time.Second, ratchet.StatusPaused, bad)
	b.advance(t, 30, time.Minute)
	require.Equal(t, 2+1, m.Calls())
	st, err := ratchet.LoadState(ctx, b.store, bad)
	require.NoError(t, err)
	require.Equal(t, "store:io", st.Error.Kind)
	require.Contains(t, st.Error.Message, "3 in a row")
	require.InDelta(t, 2.0, st.CostUSD, 1e-9)
	require.EqualValues(t, 10, st.Usage.InputTokens)
	info, err := b.store.Get(ctx, bad)
	require.NoError(t, err)
	require.InDelta(t, 2.0, info.Totals.CostUSD, 1e-9)
	require.Equal(t, 0, st.Step, "no response was stored")
}

// TestSchedulerLostAckSpendNotCountedTwice: a model response whose append
// failed after the store wrote it is in the log: its spend is not written
// again.
func TestSchedulerLostAckSpendNotCountedTwice(t *testing.T) {
	t.Parallel()
	fst := ratchettest.NewFaultStore(store.NewMemory(nil))
	b := setupSched(t, &ratchet.SchedulerConfig{Store: fst.Store(), PollInterval: time.Second})
	m := toolThenAnswer(t, "echo", `{"text":"hi"}`)
	b.pricedAgent(t, "echoer", m, []ratchet.Tool{echoTool()}, nil)
	ctx := context.Background()
	id, err := b.sched.StartRun(ctx, "echoer", "go", nil)
	require.NoError(t, err)
	fst.FailAppend(1, ratchettest.FaultAfter, ratchettest.ErrIO()) // the first step's batch
	require.NoError(t, b.sched.Start(ctx))
	b.untilStatus(t, time.Second, ratchet.StatusSucceeded, id)
	st, err := ratchet.LoadState(ctx, b.store, id)
	require.NoError(t, err)
	require.Equal(t, 2, m.Calls())
	require.InDelta(t, 4.0, st.CostUSD, 1e-9)
}

// TestSchedulerFullTmpfs fills a real file system (a 1 MiB tmpfs) under a
// File store from inside the first model call: its response cannot be
// written (ENOSPC), no model is called again while the disk is full, and
// once space is freed the run succeeds with every call in its cost. It
// needs mount(2) rights; it is skipped without them unless CI is set.
func TestSchedulerFullTmpfs(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	require.NoError(t, os.Mkdir(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (%v: %s); the FaultStore tests cover a full disk", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	fs, err := store.NewFile(filepath.Join(dir, "store"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = fs.Close() })
	filler := filepath.Join(dir, "filler")
	fill := func() {
		f, err := os.Create(filler)
		require.NoError(t, err)
		defer f.Close()
		for _, size := range []int{65536, 1} {
			chunk := make([]byte, size)
			for {
				if _, err := f.Write(chunk); err != nil {
					require.True(t, errors.Is(err, syscall.ENOSPC), "%v", err)
					break
				}
			}
		}
	}
	logs := &syncBuffer{}
	b := setupSched(t, &ratchet.SchedulerConfig{Store: fs, PollInterval: time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	var once sync.Once
	// Its records are larger than a page: they cannot fit in the slack of
	// the log's last page.
	inner := toolThenAnswer(t, "echo", `{"text":"`+strings.Repeat("y", 8192)+`"}`)
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		once.Do(fill)
		r, err := inner.Generate(ctx, req)
		if err != nil {
			return ratchettest.Fail(err)
		}
		return ratchettest.Reply{Response: r}
	})
	b.pricedAgent(t, "echoer", m, []ratchet.Tool{echoTool()}, nil)
	ctx := context.Background()
	id, err := b.sched.StartRun(ctx, "echoer", "go", nil)
	require.NoError(t, err)
	require.NoError(t, b.sched.Start(ctx))
	// (The log's last page may take a record or two more: the disk is
	// full within the first step or the next.)
	b.until(t, time.Second, func() bool { return strings.Contains(logs.String(), "disk_full") }, "no disk_full failure")
	b.advance(t, 60, 30*time.Second)
	during := m.Calls()
	require.Equal(t, 1, during, "%s", logs)
	b.advance(t, 60, 30*time.Second)
	require.Equal(t, during, m.Calls(), "the model was called again on a full disk: %s", logs)
	require.NoError(t, os.Remove(filler))
	b.untilStatus(t, time.Second, ratchet.StatusSucceeded, id)
	total := m.Calls()
	require.Equal(t, 2, total, "the stored response was asked for again")
	st, err := ratchet.LoadState(ctx, fs, id)
	require.NoError(t, err)
	require.InDelta(t, 2*float64(total), st.CostUSD, 1e-9)
	require.EqualValues(t, 10*total, st.Usage.InputTokens)
}
