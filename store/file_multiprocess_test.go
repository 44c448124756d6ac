package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// The environment of a helper process started by startHelper.
const (
	helperDirEnv   = "RATCHET_STORE_HELPER_DIR"
	helperNameEnv  = "RATCHET_STORE_HELPER_NAME"
	helperCountEnv = "RATCHET_STORE_HELPER_COUNT"
)

// TestFileHelperProcess is not a test: it is the body of the child
// processes that TestFileMultiProcess and TestFileMultiProcessKill start
// (by running this test binary again). It appends count records to run
// "shared" with an optimistic retry loop, one record per step to its own run,
// tries once to lease run "lease", and prints one line per outcome.
func TestFileHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process for the multi-process tests")
	}
	name := os.Getenv(helperNameEnv)
	count, err := strconv.Atoi(os.Getenv(helperCountEnv))
	require.NoError(t, err)
	f, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	defer f.Close()
	ctx := context.Background()
	own := "own-" + name
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: own}, nil))

	now := time.Now()
	if _, err := f.AcquireLease(ctx, "lease", name, now, now.Add(time.Hour)); err == nil {
		fmt.Println("LEASED")
	} else {
		require.ErrorIs(t, err, store.ErrLeased)
	}
	for i := 0; i < count; {
		rec := fmt.Sprintf("%s/%d", name, i)
		ri, err := f.Get(ctx, "shared")
		require.NoError(t, err)
		err = f.Append(ctx, store.Batch{RunID: "shared", Expected: ri.LastSeq, Records: [][]byte{[]byte(rec)}, Meta: store.Meta{Status: rec}})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		require.NoError(t, err)
		fmt.Println("APPENDED", rec)
		require.NoError(t, f.Append(ctx, store.Batch{RunID: own, Expected: uint64(i), Records: [][]byte{[]byte(rec)}}))
		i++
	}
}

// helper is a running helper process.
type helper struct {
	name string
	cmd  *exec.Cmd
	out  bytes.Buffer
}

// startHelper starts a helper process on dir that appends count records.
func startHelper(t *testing.T, dir, name string, count int) *helper {
	t.Helper()
	h := &helper{name: name}
	h.cmd = exec.Command(os.Args[0], "-test.run=^TestFileHelperProcess$", "-test.count=1")
	h.cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperNameEnv+"="+name, helperCountEnv+"="+strconv.Itoa(count))
	h.cmd.Stdout = &h.out
	h.cmd.Stderr = &h.out
	require.NoError(t, h.cmd.Start())
	return h
}

// appended returns the records the helper reported as appended, and
// whether it reported the lease.
func (h *helper) appended() (recs []string, leased bool) {
	sc := bufio.NewScanner(bytes.NewReader(h.out.Bytes()))
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, "APPENDED "):
			recs = append(recs, strings.TrimPrefix(line, "APPENDED "))
		case line == "LEASED":
			leased = true
		}
	}
	return recs, leased
}

// setupShared creates the runs the helpers use in a new directory.
func setupShared(t *testing.T) *fileBundle {
	t.Helper()
	b := setupFile(t)
	f := b.open(t)
	require.NoError(t, f.Create(context.Background(), store.RunInfo{ID: "shared"}, nil))
	require.NoError(t, f.Create(context.Background(), store.RunInfo{ID: "lease"}, nil))
	require.NoError(t, f.Close())
	return b
}

// checkShared checks run "shared" after the helpers: every record once, in
// each helper's order, acknowledged ones all present.
func checkShared(t *testing.T, f *store.File, helpers []*helper, acked map[string][]string) []string {
	t.Helper()
	all := records(t, f, "shared") // checks contiguous sequences
	next := map[string]int{}
	for _, rec := range all {
		name, iStr, ok := strings.Cut(rec, "/")
		require.True(t, ok, rec)
		i, err := strconv.Atoi(iStr)
		require.NoError(t, err)
		require.Equal(t, next[name], i, "helper %s's records each once and in order", name)
		next[name]++
	}
	for _, h := range helpers {
		require.GreaterOrEqual(t, next[h.name], len(acked[h.name]), "every acknowledged append of %s is in the log", h.name)
		require.LessOrEqual(t, next[h.name], len(acked[h.name])+1, "at most one unacknowledged append of %s", h.name)
	}
	return all
}

func TestFileMultiProcess(t *testing.T) {
	t.Parallel()
	const procs, count = 4, 40
	b := setupShared(t)
	var helpers []*helper
	for i := range procs {
		helpers = append(helpers, startHelper(t, b.dir, fmt.Sprintf("p%d", i), count))
	}
	acked := map[string][]string{}
	leases := 0
	for _, h := range helpers {
		require.NoError(t, h.cmd.Wait(), "helper %s:\n%s", h.name, h.out.String())
		recs, leased := h.appended()
		require.Len(t, recs, count, h.name)
		acked[h.name] = recs
		if leased {
			leases++
		}
	}
	require.Equal(t, 1, leases, "exactly one process got the lease")

	f := b.open(t)
	require.Empty(t, b.takeRecoveries())
	all := checkShared(t, f, helpers, acked)
	require.Len(t, all, procs*count)
	ri, err := f.Get(context.Background(), "shared")
	require.NoError(t, err)
	require.Equal(t, uint64(procs*count), ri.LastSeq)
	require.Equal(t, all[len(all)-1], ri.Status, "the meta of the last append")
	for _, h := range helpers {
		require.Equal(t, acked[h.name], records(t, f, "own-"+h.name))
	}
}

func TestFileMultiProcessKill(t *testing.T) {
	t.Parallel()
	const victims, count = 2, 200
	b := setupShared(t)
	var helpers []*helper
	for i := range victims {
		helpers = append(helpers, startHelper(t, b.dir, fmt.Sprintf("k%d", i), 1<<30))
	}
	survivor := startHelper(t, b.dir, "s", count)
	require.NoError(t, survivor.cmd.Wait(), "helper s:\n%s", survivor.out.String())
	// Kill the others while they append, most likely in the middle of one.
	acked := map[string][]string{}
	for _, h := range helpers {
		require.NoError(t, h.cmd.Process.Kill())
		_ = h.cmd.Wait()
		acked[h.name], _ = h.appended()
		t.Logf("%s acknowledged %d appends before it was killed", h.name, len(acked[h.name]))
		time.Sleep(10 * time.Millisecond)
	}
	helpers = append(helpers, survivor)
	acked[survivor.name], _ = survivor.appended()
	require.Len(t, acked[survivor.name], count)

	f := b.open(t) // a torn tail, if any, is cut and reported
	t.Logf("recoveries: %v", b.takeRecoveries())
	all := checkShared(t, f, helpers, acked)
	require.NoError(t, f.Append(context.Background(), store.Batch{RunID: "shared", Expected: uint64(len(all)), Records: [][]byte{[]byte("after")}}))
}
