package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet/internal/childprog"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// prog is this package's program.
var prog = childprog.New("leasetest")

func TestMain(m *testing.M) {
	code := m.Run()
	prog.Remove()
	os.Exit(code)
}

// child is a started child process.
type child struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	err    *bytes.Buffer
	copied chan struct{} // closed once out has all of stdout
}

// start starts a child in mode on dir and waits for it to be ready.
func start(t *testing.T, dir, mode string, env ...string) *child {
	t.Helper()
	bin, err := prog.Path()
	require.NoError(t, err)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"LEASE_DIR=" + dir, "LEASE_MODE=" + mode}, env...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c := &child{cmd: cmd, out: new(bytes.Buffer), err: new(bytes.Buffer), copied: make(chan struct{})}
	cmd.Stderr = c.err
	require.NoError(t, cmd.Start())
	rd := bufio.NewReader(stdout)
	line, err := rd.ReadString('\n')
	require.NoError(t, err, "child %s: %s", mode, c.err)
	require.Equal(t, "ready\n", line)
	go func() {
		defer close(c.copied)
		_, _ = io.Copy(c.out, rd)
	}()
	return c
}

// wait waits for the child and returns what it printed after "ready".
func (c *child) wait(t *testing.T) string {
	t.Helper()
	<-c.copied // stdout ends when the child exits; Wait closes the pipe
	err := c.cmd.Wait()
	require.NoError(t, err, "child failed: %s", c.err)
	return strings.TrimSpace(c.out.String())
}

func create(t *testing.T, dir string) {
	t.Helper()
	bin, err := prog.Path()
	require.NoError(t, err)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LEASE_DIR="+dir, "LEASE_MODE=create")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "create: %s", out)
}

func release(t *testing.T, dir, name string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o600))
}

// call is one tool call's execution by one process.
type call struct {
	key, tool  string
	pid        int
	begin, end int64
}

// toolLog reads dir's tool log.
func toolLog(t *testing.T, dir string) []call {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "tools.log"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var calls []call
	open := map[[2]string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		require.Len(t, f, 5, "bad line %q", line)
		pid, _ := strconv.Atoi(f[3])
		at, _ := strconv.ParseInt(f[4], 10, 64)
		k := [2]string{f[1], f[3]}
		switch f[0] {
		case "B":
			open[k] = len(calls)
			calls = append(calls, call{key: f[1], tool: f[2], pid: pid, begin: at})
		case "E":
			i, ok := open[k]
			require.True(t, ok, "end without begin: %q", line)
			calls[i].end = at
		}
	}
	return calls
}

// checkRun checks what the contended run left: it succeeded, no call of it
// is recorded with an unknown outcome, every tool call ran in one process
// (pid), and no call ran twice at the same time.
func checkRun(t *testing.T, dir string, pid int) {
	t.Helper()
	ctx := context.Background()
	fs, err := store.NewFile(filepath.Join(dir, "store"), &store.FileOptions{ReadOnly: true})
	require.NoError(t, err)
	defer fs.Close()
	st, err := ratchet.LoadState(ctx, fs, RunID)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusSucceeded, st.Status)
	recs, err := fs.Read(ctx, RunID, 1)
	require.NoError(t, err)
	for _, sr := range recs {
		rec, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		require.NoError(t, err)
		if rec.Result != nil {
			require.NotEqual(t, string(ratchet.ToolErrorUnknownOutcome), rec.Result.Error, "a finished call recorded as unknown")
		}
	}
	calls := toolLog(t, dir)
	require.Len(t, calls, 2*Steps, "every call ran exactly once")
	for i, a := range calls {
		require.Equal(t, pid, a.pid, "a call ran in the process that did not hold the lease")
		require.NotZero(t, a.end, "call %s never finished", a.key)
		for _, b := range calls[i+1:] {
			if a.key == b.key {
				require.False(t, a.begin < b.end && b.begin < a.end, "call %s ran twice at the same time", a.key)
			}
		}
	}
}

// TestTwoProcessesResumeOneRun: two processes resume the same run at the
// same moment, 50 times: exactly one steps it, the other gets the busy
// error, and the run's log and tool effects show one owner.
//
// On a loaded machine one process may be scheduled so late that the other
// has finished the run before it looks ("ended": it did not step either);
// most rounds must see the contention.
func TestTwoProcessesResumeOneRun(t *testing.T) {
	t.Parallel()
	busy := 0
	for i := range 50 {
		dir := t.TempDir()
		create(t, dir)
		a, b := start(t, dir, "resume"), start(t, dir, "resume")
		release(t, dir, "go")
		outs := map[string]*child{a.wait(t): a}
		outB := b.wait(t)
		require.NotContains(t, outs, outB, "round %d: both printed %q", i, outB)
		outs[outB] = b
		stepper, ok := outs["stepped"]
		require.True(t, ok, "round %d: nobody stepped: %v", i, outs)
		if _, ok := outs["busy"]; ok {
			busy++
		} else {
			require.Contains(t, outs, "ended", "round %d", i)
		}
		checkRun(t, dir, stepper.cmd.Process.Pid)
	}
	t.Logf("%d of 50 rounds contended (the other process got ErrRunBusy)", busy)
	require.GreaterOrEqual(t, busy, 40)
}

// TestResumeWhileASchedulerHoldsTheRun: a process resumes a run that a
// Scheduler in another process is stepping, 50 times: it gets the busy
// error, and the Scheduler's process alone steps the run.
func TestResumeWhileASchedulerHoldsTheRun(t *testing.T) {
	t.Parallel()
	for i := range 50 {
		dir := t.TempDir()
		create(t, dir)
		s := start(t, dir, "sched")
		r := start(t, dir, "resume", "LEASE_GO=go2")
		release(t, dir, "go")
		require.Eventually(t, func() bool { return len(toolLog(t, dir)) > 0 }, 10*time.Second, time.Millisecond,
			"round %d: the scheduler never started a call", i)
		release(t, dir, "go2")
		require.Equal(t, "busy", r.wait(t), "round %d", i)
		require.Equal(t, "sched", s.wait(t), "round %d", i)
		checkRun(t, dir, s.cmd.Process.Pid)
	}
}
