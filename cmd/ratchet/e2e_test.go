package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// TestBinary builds the ratchet command and runs it, as an operator would,
// against a file store that agents wrote (and still have open).
func TestBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "ratchet")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	b := setup(t)
	b.populate(t)
	ratchetCmd := func(t *testing.T, wantCode int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, append([]string{"-store", b.dir}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		require.Equal(t, wantCode, code, "ratchet %v\nstdout: %s\nstderr: %s", args, stdout.String(), stderr.String())
		if wantCode != 0 {
			return stderr.String()
		}
		return stdout.String()
	}

	out = []byte(ratchetCmd(t, 0, "runs"))
	require.Regexp(t, `(?m)^run-paused +calc +paused `, string(out))
	require.Regexp(t, `(?m)^run-ok +calc +succeeded +2026-01-02 03:04:05 +2026-01-02 03:04:05 +2 +30 +\$0\.0400$`, string(out))

	var infos []store.RunInfo
	require.NoError(t, json.Unmarshal([]byte(ratchetCmd(t, 0, "-json", "runs", "-status", "paused")), &infos))
	require.Len(t, infos, 1)
	require.Equal(t, "run-paused", infos[0].ID)
	require.Equal(t, map[string]string{"team": "b"}, infos[0].Labels)

	show := ratchetCmd(t, 0, "show", "run-ok")
	require.Contains(t, show, `tool add#call_1 started {"a":1,"b":2}`)
	require.Contains(t, show, "output: 1 + 2 = 3")
	var recs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(ratchetCmd(t, 0, "show", "run-ok", "--json")), &recs))
	require.Len(t, recs, 6)
	require.Equal(t, "run_completed", recs[5]["kind"])

	// tail of an ended run prints its records and returns.
	lines := strings.Split(strings.TrimSpace(ratchetCmd(t, 0, "-json", "tail", "run-ok")), "\n")
	require.Len(t, lines, 6)

	var res opResult
	require.NoError(t, json.Unmarshal([]byte(ratchetCmd(t, 0, "retry", "run-paused", "-max-steps", "3", "-json")), &res))
	require.Equal(t, ratchet.StatusRunning, res.Status)
	require.Equal(t, &ratchet.Budget{MaxSteps: 3}, res.Budget)
	require.Contains(t, ratchetCmd(t, 0, "cancel", "run-paused", "-reason", "no longer needed"), "run run-paused cancelled")

	// The agents' process still has the store open and sees the change.
	st, err := ratchet.LoadState(t.Context(), b.store, "run-paused")
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusCancelled, st.Status)
	require.Equal(t, "no longer needed", st.Error.Message)

	require.Contains(t, ratchetCmd(t, 1, "cancel", "run-paused"), "has already ended (cancelled)")

	// Deleted by the CLI's process, the run is gone for the agents' process
	// too (it reads the deletion from the shared log).
	require.Contains(t, ratchetCmd(t, 0, "delete", "run-paused"), "run run-paused deleted")
	_, err = b.store.Get(t.Context(), "run-paused")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Contains(t, ratchetCmd(t, 0, "prune", "-older-than", "1h", "-dry-run"), "would delete")
	require.Contains(t, ratchetCmd(t, 1, "show", "missing"), `run "missing" not found`)
	require.Contains(t, ratchetCmd(t, 2, "show"), "usage: ratchet show RUN")
	require.Contains(t, ratchetCmd(t, 2, "runs", "-nope"), "flag provided but not defined")
}
