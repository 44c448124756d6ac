package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// nasty is text a model or tool might send to take over a terminal: clear
// the screen, an OSC 8 hyperlink, a carriage return that rewrites the line,
// the bell, a C1 CSI (U+009B), a bidi override, and a byte that is not
// UTF-8 is added where the store allows one.
const nasty = "a\x1b[2Jb \x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ c\rd\ae\u009b31mf\u202eg"

func TestEscapeText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, block, line string
	}{
		{"plain text, ünïcode ✓", "plain text, ünïcode ✓", "plain text, ünïcode ✓"},
		{"two\nlines\tand tab", "two\nlines\tand tab", `two\nlines\tand tab`},
		{"\x1b[2J", `\x1b[2J`, `\x1b[2J`},
		{"\x1b]8;;http://x\x07link\x1b]8;;\x07", `\x1b]8;;http://x\x07link\x1b]8;;\x07`, `\x1b]8;;http://x\x07link\x1b]8;;\x07`},
		{"a\rb\x00c\x7fd", `a\x0db\x00c\x7fd`, `a\x0db\x00c\x7fd`},
		{"csi\u009b1m nel\u0085", `csi\u009b1m nel\u0085`, `csi\u009b1m nel\u0085`},
		{"raw \x9b byte \xff", `raw \x9b byte \xff`, `raw \x9b byte \xff`},
		{"rtl\u202eevil\u2066x\u2028y", `rtl\u202eevil\u2066x\u2028y`, `rtl\u202eevil\u2066x\u2028y`},
	} {
		require.Equal(t, tc.block, escapeText(tc.in, true), "%q", tc.in)
		require.Equal(t, tc.line, escapeText(tc.in, false), "%q", tc.in)
	}
}

func TestEscapeJSONKeepsValue(t *testing.T) {
	t.Parallel()
	in := []byte("{\"a\":\"x\u009by\u202ez\x7f\",\n\"b\":[\"\x9b\"]}")
	out := escapeJSON(in)
	requireNoControl(t, string(out), true)
	var got, want map[string]any
	require.NoError(t, json.Unmarshal(in, &want))
	require.NoError(t, json.Unmarshal(out, &got))
	require.Equal(t, want, got)
}

// requireNoControl asserts that out has no raw control character (but
// newlines and tabs, when the format keeps them), no C1 control, no bidi
// control and only UTF-8.
func requireNoControl(t *testing.T, out string, keepLines bool) {
	t.Helper()
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRuneInString(out[i:])
		ok := !needsEscape(r, size, keepLines)
		require.True(t, ok, "raw %q at byte %d of:\n%s", out[i:i+size], i, out)
		i += size
	}
}

// nastyRuns stores runs whose every model-, tool- and user-controlled
// string is nasty: one run through the runtime on a File store (messages,
// tool arguments and results, errors, labels), and on a Memory store
// records written directly (agent, interrupt questions and arguments,
// answers, events, a record it cannot decode).
func nastyRuns(t *testing.T) (*testBundle, *store.Memory) {
	t.Helper()
	b := setup(t)
	ctx := context.Background()
	args, err := json.Marshal(map[string]string{"s": nasty})
	require.NoError(t, err)
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "calc", ModelName: "small", Store: b.store, Clock: b.clock,
		Model: ratchettest.NewModel(t,
			ratchettest.ToolCalls(ratchettest.Call{Name: "echo", Args: string(args)}),
			ratchettest.Text("answer: "+nasty),
		),
		Tools: []ratchet.Tool{ratchet.NewTool("echo", "Echoes.", func(ctx context.Context, in struct {
			S string `json:"s"`
		}) (string, error) {
			return "result: " + in.S, nil
		})},
	})
	require.NoError(t, err)
	_, err = a.Run(ctx, "question: "+nasty, &ratchet.RunOptions{ID: "run-nasty", Labels: map[string]string{"team": nasty}})
	require.NoError(t, err)

	failing, err := ratchet.NewAgent(ratchet.Config{
		Name: "calc", ModelName: "small", Store: b.store, Clock: b.clock,
		Model: ratchettest.NewModel(t, ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400, Message: nasty})),
	})
	require.NoError(t, err)
	_, err = failing.Run(ctx, "hi", &ratchet.RunOptions{ID: "run-nasty-failed"})
	require.Error(t, err)

	m := store.NewMemory(nil)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []*ratchet.Record{
		{Kind: ratchet.RecRunStarted, Agent: nasty, Input: []ratchet.Message{{Role: ratchet.RoleUser, Content: nasty}}},
		{Kind: ratchet.RecInterrupted, Step: 1, Interrupt: &ratchet.PendingInterrupt{
			ID: "q" + nasty, Kind: ratchet.InterruptQuestion, Step: 1, Tool: nasty, Args: nasty, Prompt: nasty, Event: nasty,
		}},
		{Kind: ratchet.RecAnswered, Step: 1, Answer: &ratchet.AnswerRecord{ID: nasty, Answer: ratchet.Answer{Value: mustJSON(t, nasty)}}},
		{Kind: ratchet.RecAnswered, Step: 1, Answer: &ratchet.AnswerRecord{ID: nasty, Answer: ratchet.Answer{Reason: nasty}}},
		{Kind: ratchet.RecEventReceived, Step: 1, Event: &ratchet.RunEvent{Name: nasty, Data: mustJSON(t, nasty)}},
		{Kind: ratchet.RecRunFailed, Step: 1, Error: &ratchet.ErrorInfo{Kind: nasty, Message: nasty}},
	}
	var data [][]byte
	for _, r := range recs {
		r.Version, r.Time = 1, at
		data = append(data, mustJSON(t, r))
	}
	// A record this version cannot decode, with a raw C1 and a byte that
	// is not UTF-8 in it (valid in JSON, unlike a raw ESC), and one
	// missing the fields its kind needs.
	data = append(data, []byte("{\"v\":99,\"kind\":\"future\",\"x\":\"\u009b\x9b\"}"))
	data = append(data, []byte(`{"v":1,"kind":"tool_finished","time":"2026-01-02T03:04:05Z","x":"\u001b[2J"}`))
	require.NoError(t, m.Create(context.Background(), store.RunInfo{ID: "r", Agent: nasty, Labels: map[string]string{nasty: nasty},
		Meta: store.Meta{Status: "failed"}}, data))
	return b, m
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestShowAndTailEscapeControlSequences: whatever a run holds, show and
// tail write no raw control sequence to the terminal, in text or JSON, and
// the JSON still holds the exact text.
func TestShowAndTailEscapeControlSequences(t *testing.T) {
	t.Parallel()
	b, m := nastyRuns(t)
	for _, tc := range []struct {
		s  store.Store
		id string
	}{{b.store, "run-nasty"}, {b.store, "run-nasty-failed"}, {m, "r"}} {
		show, err := do(t, tc.s, cmdShow, tc.id)
		require.NoError(t, err)
		requireNoControl(t, show, true)
		require.Contains(t, show, `a\x1b[2Jb \x1b]8;;http://evil.example/\x1b\click\x1b]8;;\x1b\ c\x0dd\x07e\u009b31mf\u202eg`, "the text is shown, escaped")

		tail, err := do(t, tc.s, cmdTail, "-interval", "1ms", tc.id)
		require.NoError(t, err)
		requireNoControl(t, tail, true)
		require.Contains(t, show, tail[:strings.Index(tail, "\n")], "tail prints the timeline show does")

		for _, args := range [][]string{{"-json", tc.id}, {"-json", "-interval", "1ms", tc.id}} {
			cmd := cmdShow
			if len(args) == 4 {
				cmd = cmdTail
			}
			out, err := do(t, tc.s, cmd, args...)
			require.NoError(t, err)
			requireNoControl(t, out, true)
			require.Contains(t, out, `\u009b`)
		}
	}

	// The JSON keeps the text exactly.
	out, err := do(t, b.store, cmdShow, "-json", "run-nasty")
	require.NoError(t, err)
	var recs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &recs))
	require.Equal(t, "answer: "+nasty, recs[len(recs)-1]["output"])

	// The header of the hand-written run: agent, labels, pending question.
	show, err := do(t, m, cmdShow, "r")
	require.NoError(t, err)
	header := show[:strings.Index(show, "\n\n")]
	require.Equal(t, 0, strings.Count(header, "\x1b"))
	require.Contains(t, header, `agent=a\x1b[2J`)
}
