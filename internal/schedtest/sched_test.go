package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet/internal/childprog"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// prog is this package's program.
var prog = childprog.New("schedtest")

func TestMain(m *testing.M) {
	code := m.Run()
	prog.Remove()
	os.Exit(code)
}

// interval is one tool call's execution by one process.
type interval struct {
	pid        int
	begin, end int64 // unix nanoseconds; end 0: never finished
}

type stepKey struct {
	run  string
	step int
}

func readSteps(t *testing.T, path string) map[string][]interval {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	open := make(map[[2]any]int) // (stepKey, pid) -> index in runs[run]
	runs := make(map[string][]interval)
	finished := make(map[stepKey]bool)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		require.Len(t, fs, 5, "bad line %q", sc.Text())
		step, _ := strconv.Atoi(fs[2])
		pid, _ := strconv.Atoi(fs[3])
		at, _ := strconv.ParseInt(fs[4], 10, 64)
		k := [2]any{stepKey{fs[1], step}, pid}
		switch fs[0] {
		case "B":
			runs[fs[1]] = append(runs[fs[1]], interval{pid: pid, begin: at})
			open[k] = len(runs[fs[1]]) - 1
		case "E":
			i, ok := open[k]
			require.True(t, ok, "end without begin: %q", sc.Text())
			runs[fs[1]][i].end = at
			delete(open, k)
			finished[stepKey{fs[1], step}] = true
		}
	}
	require.NoError(t, sc.Err())
	for run := range runs {
		for step := range Steps {
			require.True(t, finished[stepKey{run, step}], "run %s: step %d never finished", run, step)
		}
	}
	return runs
}

// TestTwoProcessesShareAFileStore runs two scheduler processes over one
// File store, SIGKILLs one of them mid-way, and checks that the survivor
// finishes every run and that no two processes ever executed steps of the
// same run at overlapping times.
func TestTwoProcessesShareAFileStore(t *testing.T) {
	t.Parallel()
	bin, err := prog.Path()
	require.NoError(t, err)
	dir := t.TempDir()
	const runs = 40

	a := exec.Command(bin, "-dir", dir, "-start", strconv.Itoa(runs), "-expect", strconv.Itoa(runs))
	a.Stderr = os.Stderr
	aOut, err := a.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, a.Start())
	line, err := bufio.NewReader(aOut).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "started\n", line)

	b := exec.Command(bin, "-dir", dir, "-expect", strconv.Itoa(runs))
	b.Stderr = os.Stderr
	require.NoError(t, b.Start())
	bDone := make(chan error, 1)
	go func() { bDone <- b.Wait() }()

	// Kill A once both have done some of the work, while A is busy.
	stepsLog := filepath.Join(dir, "steps.log")
	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(stepsLog)
		return strings.Count(string(data), "\n") >= runs*Steps/2
	}, 20*time.Second, time.Millisecond)
	require.NoError(t, a.Process.Signal(syscall.SIGKILL))
	_ = a.Wait()
	dead := time.Now().UnixNano()

	select {
	case err := <-bDone:
		require.NoError(t, err, "the survivor failed")
	case <-time.After(25 * time.Second):
		_ = b.Process.Kill()
		t.Fatal("the survivor did not finish every run")
	}

	st, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	defer st.Close()
	ctx := context.Background()
	for i := 1; i <= runs; i++ {
		id := fmt.Sprintf("job-%03d", i)
		s, err := ratchet.LoadState(ctx, st, id)
		require.NoError(t, err)
		require.Equal(t, ratchet.StatusSucceeded, s.Status, id)
		require.Equal(t, Output(id), s.Output, id)
	}

	byRun := readSteps(t, stepsLog)
	require.Len(t, byRun, runs)
	aPid, bPid := a.Process.Pid, b.Process.Pid
	shared := 0
	for run, ivs := range byRun {
		pids := map[int]bool{}
		for _, iv := range ivs {
			pids[iv.pid] = true
		}
		for i, x := range ivs {
			xEnd := x.end
			if xEnd == 0 {
				require.Equal(t, aPid, x.pid, "run %s: the survivor left a step unfinished", run)
				xEnd = dead // it ran, at most, until A died
			}
			for _, y := range ivs[i+1:] {
				if x.pid == y.pid {
					continue
				}
				yEnd := y.end
				if yEnd == 0 {
					yEnd = dead
				}
				require.False(t, x.begin < yEnd && y.begin < xEnd,
					"run %s: pids %d and %d executed steps at overlapping times", run, x.pid, y.pid)
			}
		}
		if pids[aPid] && pids[bPid] {
			shared++
		}
	}
	// Both processes did work, and the survivor took over runs of A.
	require.Positive(t, shared, "no run was continued by the other process")
	t.Logf("%d runs, %d of them stepped by both processes", runs, shared)
}
