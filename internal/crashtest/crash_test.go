package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

var crashPoints = flag.Int("crash.points", 0,
	"hooked kill points to test (default 50, or $RATCHET_CRASH_POINTS); random-time kills are a quarter of that")

func points() int {
	if *crashPoints > 0 {
		return *crashPoints
	}
	if n, err := strconv.Atoi(os.Getenv("RATCHET_CRASH_POINTS")); err == nil && n > 0 {
		return n
	}
	return 50
}

// buildProg builds this package's program once per test binary.
var buildProg = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "crashtest-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "crashprog")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if bin, err := buildProg(); err == nil {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

type testBundle struct {
	bin string
	dir string
	inv int
	// persisted is, for each invocation, what the store held when it began.
	persisted []snapshot
	outputs   []string
	kills     int
}

// snapshot is what the store held at one moment.
type snapshot struct {
	responses int             // model_responded records
	finished  map[string]bool // idempotency keys with tool_finished
	started   map[string]bool // keys with tool_started
	unknown   map[string]bool // keys finished as unknown outcome
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	bin, err := buildProg()
	require.NoError(t, err)
	return &testBundle{bin: bin, dir: t.TempDir()}
}

// read opens the store (the child is dead, so nobody else has it open)
// and summarises the run's records.
func (b *testBundle) read(t *testing.T) snapshot {
	t.Helper()
	s := snapshot{finished: map[string]bool{}, started: map[string]bool{}, unknown: map[string]bool{}}
	fs, err := store.NewFile(filepath.Join(b.dir, "store"))
	require.NoError(t, err)
	defer fs.Close()
	recs, err := fs.Read(context.Background(), RunID, 1)
	if errors.Is(err, store.ErrNotFound) {
		return s
	}
	require.NoError(t, err)
	for _, sr := range recs {
		r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		require.NoError(t, err)
		switch r.Kind {
		case ratchet.RecModelResponded:
			s.responses++
		case ratchet.RecToolStarted:
			s.started[r.Call.Key] = true
		case ratchet.RecToolFinished:
			s.finished[r.Call.Key] = true
			if r.Result.Error == string(ratchet.ToolErrorUnknownOutcome) {
				s.unknown[r.Call.Key] = true
			}
		}
	}
	return s
}

// start runs one invocation of the child; killAt and delay as in the
// package doc; killAfter, when positive, makes the parent SIGKILL the
// child after that long. It reports whether the child was killed.
func (b *testBundle) start(t *testing.T, killAt int, delay, killAfter time.Duration) bool {
	t.Helper()
	b.inv++
	b.persisted = append(b.persisted, b.read(t))
	cmd := exec.Command(b.bin)
	cmd.Env = append(os.Environ(), "CRASH_DIR="+b.dir, "CRASH_INV="+strconv.Itoa(b.inv),
		"CRASH_KILL_AT="+strconv.Itoa(killAt), "CRASH_DELAY="+delay.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err := cmd.Wait()
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "stderr: %s", stderr.String())
		ws, ok := ee.Sys().(syscall.WaitStatus)
		require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL,
			"invocation %d: child failed: %v\nstderr: %s", b.inv, err, stderr.String())
		b.kills++
		return true
	}
	out := stdout.String()
	require.Contains(t, out, "output: ", "stderr: %s", stderr.String())
	b.outputs = append(b.outputs, out)
	return false
}

// finish restarts the child until the run completes.
func (b *testBundle) finish(t *testing.T) {
	t.Helper()
	for i := 0; b.start(t, 0, 0, 0); i++ {
		require.Less(t, i, 3, "the child keeps dying without a kill point")
	}
}

// lines reads a side log as (invocation, fields) pairs.
func (b *testBundle) lines(t *testing.T, name string) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var out [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" {
			out = append(out, strings.Fields(l))
		}
	}
	return out
}

// check verifies a completed scenario.
func (b *testBundle) check(t *testing.T) {
	t.Helper()
	require.Len(t, b.outputs, 1)
	require.Contains(t, b.outputs[0], "output: "+WantOutput+"\n")
	final := b.read(t)
	require.Equal(t, len(Script)+1, final.responses)

	// No persisted model response was asked for again.
	for _, l := range b.lines(t, "model.log") {
		inv, _ := strconv.Atoi(l[0])
		n, _ := strconv.Atoi(l[1])
		before := b.persisted[inv-1]
		require.GreaterOrEqual(t, n, before.responses,
			"invocation %d asked the model for step %d, whose response was already persisted", inv, n)
	}

	// Each finished tool ran exactly once, except that an idempotent tool
	// may run again when a crash left it started but not finished.
	effects := map[string]int{}
	for _, l := range b.lines(t, "tools.log") {
		inv, _ := strconv.Atoi(l[0])
		key, tool := l[1], l[2]
		effects[key]++
		before := b.persisted[inv-1]
		require.False(t, before.finished[key], "invocation %d re-ran %s (%s) after its result was persisted", inv, key, tool)
		if effects[key] > 1 {
			require.Equal(t, "add", tool, "non-idempotent %s ran %d times", key, effects[key])
			require.True(t, before.started[key], "idempotent %s re-ran without a crash inside it", key)
		}
	}
	for key := range final.finished {
		if final.unknown[key] {
			continue // a note killed mid-call; its effect may or may not be logged
		}
		require.GreaterOrEqual(t, effects[key], 1, "tool %s has a result but never ran", key)
	}
	for key, n := range effects {
		require.True(t, final.finished[key], "tool %s ran (%d times) but has no result", key, n)
	}
}

// TestCrashHooks kills the child at hook points spread over a whole run
// (inside store appends, model calls and tools, while other tools run in
// parallel), sometimes twice, restarts it, and checks the invariants.
func TestCrashHooks(t *testing.T) {
	t.Parallel()
	ref := setup(t)
	ref.finish(t)
	ref.check(t)
	var hooks int
	_, err := fmt.Sscanf(ref.outputs[0][strings.Index(ref.outputs[0], "hooks: "):], "hooks: %d", &hooks)
	require.NoError(t, err)
	require.Greater(t, hooks, 40)

	n := points()
	for i := 0; i < n; i++ {
		// Spread the points evenly over [1, hooks], then beyond the
		// first pass wrap around with an offset.
		p := 1 + (i*hooks/n+i/hooks)%hooks
		t.Run(fmt.Sprintf("point=%d", i), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			require.True(t, b.start(t, p, 0, 0), "no kill at hook %d", p)
			if i%3 == 0 {
				// A second crash in the restarted process.
				rng := rand.New(rand.NewPCG(uint64(i), 7))
				b.start(t, 1+rng.IntN(hooks/2), 0, 0)
			}
			if len(b.outputs) == 0 {
				b.finish(t)
			}
			b.check(t)
		})
	}
}

// TestCrashRandomTimes kills the child from the parent at random times,
// which can land anywhere, including inside the store's write and fsync.
func TestCrashRandomTimes(t *testing.T) {
	t.Parallel()
	n := max(points()/4, 8)
	for i := 0; i < n; i++ {
		t.Run(fmt.Sprintf("kill=%d", i), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			b := setup(t)
			for k := 0; k < 3; k++ {
				after := time.Duration(5+rng.IntN(60)) * time.Millisecond
				if !b.start(t, 0, time.Millisecond, after) {
					break
				}
			}
			if len(b.outputs) == 0 {
				b.finish(t)
			}
			b.check(t)
		})
	}
}
