package ratchet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

func echoCalls(n int) []ratchettest.Call {
	calls := make([]ratchettest.Call, n)
	for i := range calls {
		calls[i] = ratchettest.Call{Name: "echo", Args: `{"text":"x"}`}
	}
	return calls
}

// TestTooManyCallsGetARepairTurn: a response with more calls than
// ParsePolicy.MaxCallsPerResponse runs none of them, is persisted without
// them, and gets a repair turn; the next response goes on as usual.
func TestTooManyCallsGetARepairTurn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.ToolCalls(echoCalls(10_000)...), ratchettest.ToolCalls(echoCalls(2)...), ratchettest.Text("ok"))
	a := b.agent(t, m, func(c *ratchet.Config) { c.Parse.MaxCallsPerResponse = 8 })
	ctx := context.Background()
	run, err := a.Start(ctx, "go", nil)
	require.NoError(t, err)
	st, err := run.Step(ctx)
	require.NoError(t, err)
	require.Equal(t, ratchet.StatusRunning, st.Status)
	recs := logOf(t, b.store, "run-1")
	require.Equal(t, []ratchet.RecordKind{ratchet.RecRunStarted, ratchet.RecModelResponded, ratchet.RecRepair}, kindsOf(recs))
	require.True(t, recs[1].Repair)
	require.Empty(t, recs[1].Response.Message.ToolCalls, "not persisted")
	require.Contains(t, recs[2].Message.Content, "10000 tool calls")
	out, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Len(t, ofKind(logOf(t, b.store, "run-1"), ratchet.RecToolFinished), 2)

	// Beyond the repairs, a ParseError.
	m2 := ratchettest.NewModelFunc(t, func(context.Context, int, *ratchet.Request) ratchettest.Reply {
		return ratchettest.ToolCalls(echoCalls(9)...)
	})
	b2 := setup(t)
	a2 := b2.agent(t, m2, func(c *ratchet.Config) { c.Parse.MaxCallsPerResponse = 8 })
	_, err = a2.Run(ctx, "go", nil)
	pe, ok := err.(*ratchet.ParseError)
	require.True(t, ok, "%T %v", err, err)
	require.Equal(t, ratchet.ParseTooManyCalls, pe.Kind)
}

// TestManyCallsCostLinearMemory: below the cap, a response's calls cost
// memory in proportion to their number (it was quadratic: every snapshot
// taken while the calls ran copied them all). Not parallel: it reads the
// process's allocation counter.
func TestManyCallsCostLinearMemory(t *testing.T) {
	alloc := func(n int) uint64 {
		m := ratchettest.NewModel(t, ratchettest.ToolCalls(echoCalls(n)...), ratchettest.Text("ok"))
		echo := ratchet.NewTool("echo", "Echoes.", func(_ context.Context, in struct {
			Text string `json:"text"`
		}) (string, error) {
			return in.Text, nil
		})
		a, err := ratchet.NewAgent(ratchet.Config{Name: "many", Model: m, Store: store.NewMemory(nil), Tools: []ratchet.Tool{echo},
			Budget: ratchet.Budget{MaxToolCalls: 1 << 20}, Parse: ratchet.ParsePolicy{MaxCallsPerResponse: 1 << 20}})
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err = a.Run(context.Background(), "go", nil)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, big := alloc(1000), alloc(4000)
	t.Logf("1000 calls: %d KiB, 4000 calls: %d KiB", small>>10, big>>10)
	require.Less(t, big, 6*small, "4x the calls cost %.1fx the memory", float64(big)/float64(small))
}

// TestLargeToolResultsKeepOnlyTheCap: a tool result far over its cap costs
// about the cap, not the result's size, when it is a string or raw JSON
// (a typed result is encoded whole by encoding/json first, so it is only
// checked to be cut). Not parallel: it reads the process's allocation counter.
func TestLargeToolResultsKeepOnlyTheCap(t *testing.T) {
	const size, limit = 64 << 20, 64 << 10
	big := strings.Repeat("x", size)
	raw := json.RawMessage(`"` + big + `"`)
	type out struct {
		Text string `json:"text"`
	}
	typed := out{Text: big}
	run := func(tool ratchet.Tool) (uint64, string) {
		m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: tool.Spec().Name, Args: `{}`}), ratchettest.Text("ok"))
		st := store.NewMemory(nil)
		a, err := ratchet.NewAgent(ratchet.Config{Name: "big", Model: m, Store: st, Tools: []ratchet.Tool{tool}, MaxToolOutputBytes: limit})
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r, err := a.Start(context.Background(), "go", nil)
		require.NoError(t, err)
		_, err = r.Wait(context.Background())
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		msgs := r.State().Messages
		return after.TotalAlloc - before.TotalAlloc, msgs[len(msgs)-2].Content
	}
	for name, tool := range map[string]ratchet.Tool{
		"string": ratchet.NewTool("s", "Big.", func(context.Context, struct{}) (string, error) { return big, nil }),
		"raw":    ratchet.NewTool("r", "Big.", func(context.Context, struct{}) (json.RawMessage, error) { return raw, nil }),
		"typed":  ratchet.NewTool("t", "Big.", func(context.Context, struct{}) (out, error) { return typed, nil }),
	} {
		alloc, res := run(tool)
		t.Logf("%s: %d KiB allocated", name, alloc>>10)
		require.Contains(t, res, ratchet.TruncationMarker)
		require.LessOrEqual(t, len(res), limit+100)
		if name == "typed" {
			// Not bounded (encoding/json encodes it whole), only cut.
			require.Contains(t, res, fmt.Sprintf("of %d bytes]", size+len(`{"text":""}`)))
			continue
		}
		require.Less(t, alloc, uint64(4<<20), name)
	}
}
