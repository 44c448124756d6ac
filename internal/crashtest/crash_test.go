package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var crashPoints = flag.Int("crash.points", 0,
	"hooked kill points to test (default 50, 16 with -short, or $RATCHET_CRASH_POINTS); random-time kills are a quarter of that")

func points() int {
	if *crashPoints > 0 {
		return *crashPoints
	}
	if n, err := strconv.Atoi(os.Getenv("RATCHET_CRASH_POINTS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 16
	}
	return 50
}

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("RATCHET_CRASH_RACE") == "1" {
		child.Flags = []string{"-race"}
	}
	code := m.Run()
	child.Remove()
	os.Exit(code)
}

// reference runs the child once without a kill and returns the number of
// hooks a whole run passes and how long it took.
func reference(t *testing.T, delay time.Duration, env ...string) (hooks int, took time.Duration) {
	t.Helper()
	b := setup(t, env...)
	inv := b.start(t, 0, delay, 0)
	require.Empty(t, b.check(t), "a run without crashes")
	require.Greater(t, inv.hooks, int64(40))
	return int(inv.hooks), inv.elapsed
}

// hookScenario kills the child at the i-th of n hook points spread over a
// whole run of hooks points, sometimes a second time in the restarted
// process, then lets it finish. It asserts that the kills happened.
func hookScenario(t *testing.T, i, n, hooks int, env ...string) *testBundle {
	t.Helper()
	// Spread the points evenly over [1, hooks], then beyond the first pass
	// wrap around with an offset.
	p := 1 + (i*hooks/n+i/hooks)%hooks
	b := setup(t, env...)
	inv := b.start(t, p, 0, 0)
	if len(b.findings) > 0 {
		return b // a broken store made the child fail
	}
	require.True(t, inv.killed, "no kill at hook %d", p)
	if i%3 == 0 {
		// A second crash in the restarted process.
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		b.start(t, 1+rng.IntN(hooks/2), 0, 0)
	}
	b.finish(t)
	return b
}

// randomKillDelay is the delay inside the model and every tool for
// random-time kills, so that a run lasts long enough to be hit.
const randomKillDelay = time.Millisecond

// randomScenario kills the child from the parent at random times, which can
// land anywhere, including inside the store's write and fsync. A kill that
// comes before the store acknowledged anything, or after the run ended,
// does not count: it retries, with a new store after a run that ended,
// until a kill lands mid-run, then kills up to twice more and lets the run
// finish. span is how long a whole run took in a reference invocation.
func randomScenario(t *testing.T, i int, span time.Duration, env ...string) *testBundle {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(i), 99))
	b := setup(t, env...)
	for attempt := 0; ; attempt++ {
		require.Less(t, attempt, 40, "no kill landed mid-run in %d attempts (span %v)", attempt, span)
		after := time.Duration(float64(span) * (0.05 + 0.95*rng.Float64()))
		inv := b.start(t, 0, randomKillDelay, after)
		if inv.midRun() {
			break
		}
		if len(b.findings) > 0 {
			return b
		}
		if inv.done {
			// The run ended before the kill: a new store, a shorter span.
			span = min(span, inv.elapsed)
			b = setup(t, env...)
		}
	}
	for k := 0; k < 2 && rng.IntN(2) == 0 && !b.done(); k++ {
		after := time.Duration(float64(span) * rng.Float64())
		b.start(t, 0, randomKillDelay, after)
	}
	b.finish(t)
	all, mid := b.kills()
	require.GreaterOrEqual(t, mid, 1)
	t.Logf("%d invocations, %d kills, %d mid-run; acks: %v", len(b.invs), all, mid, func() (a []int) {
		for _, inv := range b.invs {
			a = append(a, inv.acks)
		}
		return a
	}())
	return b
}

// modes are the two kinds of crash: a process killed with SIGKILL (the
// page cache survives it, so everything written survives) and a power loss
// (every write after the last fdatasync of a file is lost with the kill).
var modes = []struct {
	name string
	env  []string
}{
	{"sigkill", nil},
	{"powerloss", []string{"CRASH_POWERLOSS=1"}},
}

// TestCrashHooks kills the child at hook points spread over a whole run
// (inside store appends, model calls and tools, while other tools run in
// parallel), sometimes twice, restarts it, and checks the invariants
// against what the child reported as acknowledged and done: in power-loss
// mode too, no acknowledged record may be lost.
func TestCrashHooks(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			hooks, _ := reference(t, 0, m.env...)
			n := points()
			for i := 0; i < n; i++ {
				t.Run(fmt.Sprintf("point=%d", i), func(t *testing.T) {
					t.Parallel()
					b := hookScenario(t, i, n, hooks, m.env...)
					require.Empty(t, b.check(t))
				})
			}
		})
	}
}

// TestCrashRandomTimes kills the child from the parent at random times;
// every subtest has at least one kill that landed mid-run.
func TestCrashRandomTimes(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			_, span := reference(t, randomKillDelay, m.env...)
			n := max(points()/4, 8)
			for i := 0; i < n; i++ {
				t.Run(fmt.Sprintf("kill=%d", i), func(t *testing.T) {
					t.Parallel()
					b := randomScenario(t, i, span, m.env...)
					require.Empty(t, b.check(t))
				})
			}
		})
	}
}
