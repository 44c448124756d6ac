package main

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// suiteResult counts, over a group of scenarios, those the checker failed.
type suiteResult struct {
	mu       sync.Mutex
	failed   int
	total    int
	examples []string
}

func (r *suiteResult) add(findings []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if len(findings) > 0 {
		r.failed++
		if len(r.examples) < 3 {
			r.examples = append(r.examples, findings[0])
		}
	}
}

// runHooks runs n hook-point scenarios in parallel subtests of a group and
// counts those with findings.
func runHooks(t *testing.T, n int, env ...string) *suiteResult {
	t.Helper()
	hooks, _ := reference(t, 0, env...)
	res := &suiteResult{}
	t.Run("hooks", func(t *testing.T) {
		for i := 0; i < n; i++ {
			t.Run(fmt.Sprintf("point=%d", i), func(t *testing.T) {
				t.Parallel()
				res.add(hookScenario(t, i, n, hooks, env...).check(t))
			})
		}
	})
	return res
}

// runRandom runs n random-time scenarios the same way.
func runRandom(t *testing.T, n int, env ...string) *suiteResult {
	t.Helper()
	_, span := reference(t, randomKillDelay, env...)
	res := &suiteResult{}
	t.Run("random", func(t *testing.T) {
		for i := 0; i < n; i++ {
			t.Run(fmt.Sprintf("kill=%d", i), func(t *testing.T) {
				t.Parallel()
				res.add(randomScenario(t, i, span, env...).check(t))
			})
		}
	})
	return res
}

// TestCrashSuiteFailsAckFirst proves that the suite sees a store that
// acknowledges an append before writing it (ackFirst): such a store
// passes a run without crashes, but the hook-point scenarios must fail
// it in most subtests and the random-time ones in some (a random kill
// loses a reported acknowledgement only when it lands between the report
// and the store's next call; about half of them do).
func TestCrashSuiteFailsAckFirst(t *testing.T) {
	t.Parallel()
	hooks := runHooks(t, 24, "CRASH_STORE=ackfirst")
	random := runRandom(t, 8, "CRASH_STORE=ackfirst")
	t.Logf("hook points: %d of %d failed, e.g. %q", hooks.failed, hooks.total, hooks.examples)
	t.Logf("random times: %d of %d failed, e.g. %q", random.failed, random.total, random.examples)
	require.Equal(t, 24, hooks.total)
	require.Equal(t, 8, random.total)
	require.GreaterOrEqual(t, hooks.failed, hooks.total/3)
	require.GreaterOrEqual(t, random.failed, 1)
}

// TestCrashSuiteFailsNoSync proves that power-loss mode sees a store with
// fsync switched off (noSyncFS), which SIGKILL alone cannot (the page
// cache survives the process): it passes a run without crashes, and the
// power-loss hook-point and random-time scenarios must fail it.
func TestCrashSuiteFailsNoSync(t *testing.T) {
	t.Parallel()
	env := []string{"CRASH_STORE=nosync", "CRASH_POWERLOSS=1"}
	hooks := runHooks(t, 24, env...)
	random := runRandom(t, 8, env...)
	t.Logf("hook points: %d of %d failed, e.g. %q", hooks.failed, hooks.total, hooks.examples)
	t.Logf("random times: %d of %d failed, e.g. %q", random.failed, random.total, random.examples)
	require.Equal(t, 24, hooks.total)
	require.Equal(t, 8, random.total)
	require.GreaterOrEqual(t, hooks.failed, hooks.total/2)
	require.GreaterOrEqual(t, random.failed, random.total/2)
}
