package ratchet_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

func emptyReply() ratchettest.Reply {
	return ratchettest.Reply{Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant}, FinishReason: ratchet.FinishStop}}
}

func truncatedReply() ratchettest.Reply {
	r := ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b`})
	r.Response.FinishReason = ratchet.FinishLength
	return r
}

func TestRepairTurns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		bad   func() ratchettest.Reply
		kind  ratchet.ParseKind
		role  ratchet.Role // of the repair message the next request ends with
		wants []string     // substrings of that message
	}{
		{"invalid json", func() ratchettest.Reply { return ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,`}) },
			ratchet.ParseArguments, ratchet.RoleTool, []string{`invalid arguments for tool "add"`, "Fix the arguments"}},
		{"schema violation", func() ratchettest.Reply {
			return ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":"one","b":2}`})
		}, ratchet.ParseArguments, ratchet.RoleTool, []string{`invalid arguments for tool "add"`, "a"}},
		{"unknown tool", func() ratchettest.Reply { return ratchettest.ToolCalls(ratchettest.Call{Name: "mul", Args: `{}`}) },
			ratchet.ParseUnknownTool, ratchet.RoleTool, []string{`unknown tool "mul"; available tools: add, echo`}},
		{"empty", emptyReply, ratchet.ParseEmpty, ratchet.RoleUser, []string{"Your last response was empty"}},
		{"truncated arguments", truncatedReply, ratchet.ParseArguments, ratchet.RoleTool, []string{"cut off at the output token limit"}},
		{"server could not parse", func() ratchettest.Reply {
			return ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelInvalidOutput, StatusCode: 400, Message: "tool_use_failed", Output: "<call add>"})
		}, ratchet.ParseServer, ratchet.RoleUser, []string{"could not be parsed: tool_use_failed", "<call add>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			// One bad output, then a good one: a repair turn, then success.
			b := setup(t)
			m := ratchettest.NewModel(t, tc.bad(), ratchettest.Text("fixed"))
			a := b.agent(t, m, nil)
			out, err := a.Run(context.Background(), "go", nil)
			require.NoError(t, err)
			require.Equal(t, "fixed", out)
			reqs := m.Requests()
			require.Len(t, reqs, 2)
			last := reqs[1].Messages[len(reqs[1].Messages)-1]
			require.Equal(t, tc.role, last.Role)
			for _, w := range tc.wants {
				require.Contains(t, last.Content, w)
			}
			assertWellFormed(t, reqs[1].Messages[1:])

			// Bad every time: two repair turns (the default), then a
			// ParseError, and every bad output is in the log.
			b = setup(t)
			m = ratchettest.NewModel(t, tc.bad(), tc.bad(), tc.bad())
			a = b.agent(t, m, nil)
			run, err := a.Start(context.Background(), "go", nil)
			require.NoError(t, err)
			_, err = run.Wait(context.Background())
			pe, ok := errors.AsType[*ratchet.ParseError](err)
			require.True(t, ok, "%v", err)
			require.Equal(t, tc.kind, pe.Kind)
			require.Equal(t, 2, pe.Repairs)
			require.Equal(t, 3, m.Calls())
			require.Equal(t, ratchet.StatusFailed, run.Status())
			recs := logOf(t, b.store, "run-1")
			bad := 0
			for _, r := range recs {
				if r.Repair {
					bad++
				}
			}
			require.Equal(t, 3, bad)
			require.Equal(t, ratchet.RecRunFailed, recs[len(recs)-1].Kind)
			require.Equal(t, "parse:"+string(tc.kind), recs[len(recs)-1].Error.Kind)
			requireFolds(t, b.store, run)
		})
	}
}

func TestRepairLimitConfigurable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t, emptyReply())
	a := b.agent(t, m, func(c *ratchet.Config) { c.Parse.MaxRepairs = -1 })
	_, err := a.Run(context.Background(), "go", nil)
	pe, ok := errors.AsType[*ratchet.ParseError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 0, pe.Repairs)

	// A usable output in between resets the count.
	b = setup(t)
	m = ratchettest.NewModel(t, emptyReply(), emptyReply(),
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}),
		emptyReply(), emptyReply(), ratchettest.Text("3"))
	out, err := b.agent(t, m, nil).Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "3", out)
}

func TestBadCallDoesNotStopGoodSibling(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":1,"b":2}`}, ratchettest.Call{Name: "add", Args: `not json`}),
		ratchettest.Text("3"),
	)
	out, err := b.agent(t, m, nil).Run(context.Background(), "go", nil)
	require.NoError(t, err)
	require.Equal(t, "3", out)
	msgs := m.Requests()[1].Messages
	require.Equal(t, "3", msgs[3].Content)
	require.True(t, msgs[4].IsError)
	require.Equal(t, int64(1), b.adds.Load())
}
