package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

func TestDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)
	ctx := context.Background()

	_, err := do(t, b.store, cmdDelete, "run-paused")
	var se *ratchet.RunStatusError
	require.ErrorAs(t, err, &se)
	require.ErrorContains(t, err, "cannot delete run run-paused: it is paused")

	out, err := do(t, b.store, cmdDelete, "run-ok")
	require.NoError(t, err)
	require.Equal(t, "run run-ok deleted\n", out)
	_, err = b.store.Get(ctx, "run-ok")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = do(t, b.store, cmdDelete, "run-ok")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorContains(t, err, `run "run-ok" not found`)

	out, err = do(t, b.store, cmdDelete, "run-failed", "-json")
	require.NoError(t, err)
	var res pruneResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, pruneResult{Deleted: []string{"run-failed"}}, res)

	out, err = do(t, b.store, cmdRuns)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, "run-paused", strings.Fields(lines[1])[0])
	_, err = do(t, b.store, cmdDelete)
	var ue *usageError
	require.ErrorAs(t, err, &ue)
}

func TestPrune(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t) // run-ok updated at 03:04:05, run-paused 03:05:05, run-failed 03:06:05
	ctx := context.Background()
	at := func(hms string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04:05", "2026-01-02 "+hms)
		require.NoError(t, err)
		return tm
	}
	pruneAt := func(now time.Time, args ...string) (string, error) {
		var out strings.Builder
		err := prune(ctx, b.store, args, &out, now)
		return out.String(), err
	}

	out, err := pruneAt(at("03:06:00"), "-older-than", "1m", "-dry-run")
	require.NoError(t, err)
	require.Equal(t, "would delete run run-ok (succeeded, updated 2026-01-02 03:04:05)\nwould delete 1 run(s) not updated since 2026-01-02 03:05:00\n", out)
	_, err = b.store.Get(ctx, "run-ok")
	require.NoError(t, err, "a dry run deletes nothing")

	// Paused runs are never pruned; of the ended ones, the old enough.
	out, err = pruneAt(at("04:00:00"), "-older-than", "1m", "-status", "succeeded", "-json")
	require.NoError(t, err)
	var res pruneResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, pruneResult{Deleted: []string{"run-ok"}}, res)
	out, err = pruneAt(at("04:00:00"), "-older-than", "1m")
	require.NoError(t, err)
	require.Equal(t, "deleted run run-failed (failed, updated 2026-01-02 03:06:05)\ndeleted 1 run(s) not updated since 2026-01-02 03:59:00\n", out)
	infos, err := b.store.List(ctx, store.Query{})
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.Equal(t, "run-paused", infos[0].ID)

	for _, args := range [][]string{{}, {"-older-than", "0s"}, {"-older-than", "1h", "-status", "paused"}, {"-older-than", "1h", "extra"}} {
		_, err := pruneAt(at("04:00:00"), args...)
		var ue *usageError
		require.ErrorAs(t, err, &ue, "%v", args)
	}
}

func TestCompact(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)
	ctx := context.Background()
	_, err := do(t, b.store, cmdDelete, "run-ok")
	require.NoError(t, err)

	// Another open (this test's agents' store) keeps the CLI's open from
	// compacting.
	var stdout, stderr strings.Builder
	code := run(ctx, []string{"-store", b.dir, "compact"}, &stdout, &stderr)
	require.Equal(t, exitError, code)
	require.Contains(t, stderr.String(), "the store is open elsewhere")
	require.Contains(t, stderr.String(), "(stop the processes using it first)")

	// Alone, it compacts; the runs are as they were.
	before, err := b.store.List(ctx, store.Query{})
	require.NoError(t, err)
	out, err := do(t, b.store, cmdCompact)
	require.NoError(t, err)
	require.Equal(t, "log compacted\n", out)
	after, err := b.store.List(ctx, store.Query{})
	require.NoError(t, err)
	require.Equal(t, before, after)
	out, err = do(t, b.store, cmdShow, "run-paused")
	require.NoError(t, err)
	require.Contains(t, out, "run-paused")
}

// TestDeleteAndPruneNeedDeleter: on a store that cannot delete runs (not a
// store.Deleter), delete and prune (even -dry-run) fail with a
// *store.UnsupportedError naming store.Deleter, and every run stays.
func TestDeleteAndPruneNeedDeleter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.populate(t)
	ctx := context.Background()
	basic := ratchettest.BasicStore(b.store)
	for _, args := range [][]string{{"run-ok"}, {"run-ok", "-json"}} {
		_, err := do(t, basic, cmdDelete, args...)
		require.ErrorIs(t, err, errors.ErrUnsupported, "delete %v", args)
		var ue *store.UnsupportedError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, "Deleter", ue.Interface)
		require.ErrorContains(t, err, "does not implement store.Deleter")
	}
	for _, args := range [][]string{{"-older-than", "1s"}, {"-older-than", "1s", "-dry-run"}} {
		_, err := do(t, basic, cmdPrune, args...)
		require.ErrorIs(t, err, errors.ErrUnsupported, "prune %v", args)
		require.ErrorContains(t, err, "store.Deleter")
	}
	for _, id := range []string{"run-ok", "run-failed", "run-paused"} {
		_, err := b.store.Get(ctx, id)
		require.NoError(t, err, "run %s is still there", id)
	}
}
