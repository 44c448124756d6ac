package ratchet_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

var updateGoldenStore = flag.Bool("update-golden-store", false, "rewrite testdata/golden-store-v1 with today's code")

const goldenStoreDir = "testdata/golden-store-v1"

// goldenScript: step 1 asks for add and note, step 2 for add twice, step 3
// for note, then the final answer lists every tool result the model saw.
var goldenScript = [][]ratchet.ToolCall{
	{{ID: "a1", Name: "add", Arguments: `{"a":1,"b":2}`}, {ID: "n1", Name: "note", Arguments: `{"text":"one"}`}},
	{{ID: "a2", Name: "add", Arguments: `{"a":3,"b":4}`}, {ID: "a3", Name: "add", Arguments: `{"a":5,"b":6}`}},
	{{ID: "n2", Name: "note", Arguments: `{"text":"two"}`}},
}

func goldenModel(t *testing.T) *ratchettest.Model {
	return ratchettest.NewModelFunc(t, func(_ context.Context, _ int, req *ratchet.Request) ratchettest.Reply {
		n := 0
		var seen []string
		for _, m := range req.Messages {
			switch m.Role {
			case ratchet.RoleAssistant:
				n++
			case ratchet.RoleTool:
				seen = append(seen, m.ToolCallID+"="+m.Content)
			}
		}
		if n == len(goldenScript) {
			return ratchettest.Reply{Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant,
				Content: strings.Join(seen, "; ")}, FinishReason: ratchet.FinishStop, Usage: ratchet.Usage{InputTokens: 10, OutputTokens: 5}}}
		}
		return ratchettest.Reply{Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: goldenScript[n]},
			FinishReason: ratchet.FinishToolCalls, Usage: ratchet.Usage{InputTokens: 10, OutputTokens: 5}}}
	})
}

// goldenTools returns the tools and a log of the idempotency keys they ran.
func goldenTools() ([]ratchet.Tool, func() []string) {
	var mu sync.Mutex
	var ran []string
	record := func(ctx context.Context) {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, ratchet.IdempotencyKey(ctx))
	}
	tools := []ratchet.Tool{
		ratchet.NewTool("add", "Adds.", func(ctx context.Context, in addArgs) (int, error) {
			record(ctx)
			return in.A + in.B, nil
		}, ratchet.Idempotent()),
		ratchet.NewTool("note", "Notes (not idempotent).", func(ctx context.Context, in struct {
			Text string `json:"text"`
		}) (string, error) {
			record(ctx)
			return "noted " + in.Text, nil
		}),
	}
	return tools, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Sorted(slices.Values(ran))
	}
}

func goldenAgent(t *testing.T, st store.Store, tools []ratchet.Tool, snapEvery int) *ratchet.Agent {
	t.Helper()
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "golden", Model: goldenModel(t), Tools: tools, Store: st,
		Clock:            ratchettest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		MaxParallelTools: 1, SnapshotEvery: snapEvery,
	})
	require.NoError(t, err)
	return a
}

// goldenRuns are the runs of the golden store: each is stopped after
// stopAfter appends (0: run to its end); on loading, it must end with want
// output, running exactly the tool calls in reran.
var goldenRuns = []struct {
	id        string
	snapEvery int
	stopAfter int
	reran     []string
	want      string
}{
	// Step 1: add finished, note started but not finished: the note's
	// outcome is unknown (not idempotent), so it is not run again.
	{id: "midstep-unknown", stopAfter: 4, reran: []string{"midstep-unknown/2/0", "midstep-unknown/2/1", "midstep-unknown/3/0"},
		want: "a1=3; n1=error: the outcome of this call is unknown: the run was interrupted while the tool was running, and the tool is not idempotent, so it was not run again. It may or may not have taken effect; check before calling it again.; a2=7; a3=11; n2=noted two"},
	// Step 2: a2 started, not finished: idempotent, so it runs again.
	{id: "midstep-idempotent", stopAfter: 7, reran: []string{"midstep-idempotent/2/0", "midstep-idempotent/2/1", "midstep-idempotent/3/0"},
		want: "a1=3; n1=noted one; a2=7; a3=11; n2=noted two"},
	// Model response of step 3 persisted, its tool not started.
	{id: "after-response", stopAfter: 11, reran: []string{"after-response/3/0"},
		want: "a1=3; n1=noted one; a2=7; a3=11; n2=noted two"},
	{id: "finished", want: "a1=3; n1=noted one; a2=7; a3=11; n2=noted two"},
	// Snapshots every 3 records; stopped in step 3 after a snapshot.
	{id: "snapshot", snapEvery: 3, stopAfter: 13, reran: []string{"snapshot/3/0"},
		want: "a1=3; n1=noted one; a2=7; a3=11; n2=noted two"},
}

func writeGoldenStore(t *testing.T, dir string) {
	ctx := context.Background()
	require.NoError(t, os.RemoveAll(dir))
	fs, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	defer fs.Close()
	for _, g := range goldenRuns {
		var st store.Store = fs
		if g.stopAfter > 0 {
			st = ratchettest.NewFaultStore(fs).FailAppend(g.stopAfter+1, ratchettest.FaultBefore, ratchettest.ErrIO()).Store()
		}
		tools, _ := goldenTools()
		_, err := goldenAgent(t, st, tools, g.snapEvery).Run(ctx, "sum and note", &ratchet.RunOptions{ID: g.id, Labels: map[string]string{"golden": g.id}})
		if g.stopAfter > 0 {
			require.ErrorIs(t, err, ratchet.ErrRunBroken, g.id)
		} else {
			require.NoError(t, err, g.id)
		}
	}
	_ = os.Remove(filepath.Join(dir, store.FileLockName))
}

// TestGoldenStore loads a File store written by format version 1 of the
// code (testdata/golden-store-v1) and continues every run in it to its
// expected end. Every later version must pass it unchanged: old runs load
// in new code. Regenerate (only when adding runs) with
//
//	go test -run TestGoldenStore -update-golden-store
func TestGoldenStore(t *testing.T) {
	if *updateGoldenStore {
		writeGoldenStore(t, goldenStoreDir)
	}
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	entries, err := os.ReadDir(goldenStoreDir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(goldenStoreDir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600))
	}
	fs, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	defer fs.Close()

	infos, err := fs.List(ctx, store.Query{Agent: "golden"})
	require.NoError(t, err)
	require.Len(t, infos, len(goldenRuns))
	for _, g := range goldenRuns {
		t.Run(g.id, func(t *testing.T) {
			tools, ran := goldenTools()
			a := goldenAgent(t, fs, tools, g.snapEvery)
			info, err := fs.Get(ctx, g.id)
			require.NoError(t, err)
			require.Equal(t, g.id, info.Labels["golden"])
			if g.id == "snapshot" {
				require.NotZero(t, info.SnapshotSeq, "the snapshot run has no snapshot")
			}
			r, err := a.Resume(ctx, g.id, nil)
			require.NoError(t, err)
			got, err := r.Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, g.want, got)
			require.Equal(t, g.reran, ran(), "tool calls run on resume")
			require.Equal(t, fmt.Sprint(ratchet.StatusSucceeded), fmt.Sprint(r.Status()))
		})
	}
}
