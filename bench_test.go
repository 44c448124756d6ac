package ratchet_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// loopModel always asks for one call of add: a zero-latency scripted model.
type loopModel struct{ resp ratchet.Response }

func newLoopModel() *loopModel {
	return &loopModel{resp: ratchet.Response{
		Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: []ratchet.ToolCall{
			{ID: "call_1", Name: "add", Arguments: `{"a":1,"b":2}`},
		}},
		FinishReason: ratchet.FinishToolCalls,
		Usage:        ratchet.Usage{InputTokens: 50, OutputTokens: 10},
	}}
}

func (m *loopModel) Generate(ctx context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	r := m.resp
	return &r, nil
}

// benchRunLen is how many steps a benchmark run takes before a new one
// starts, so that history (and request size) stays typical.
const benchRunLen = 16

func add(ctx context.Context, in addArgs) (int, error) { return in.A + in.B, nil }

// BenchmarkStep times one step: a model call asking for one call of a
// trivial tool, the call, and its records appended to a memory store.
func BenchmarkStep(b *testing.B) { benchStep(b, nil) }

// BenchmarkStepObserved is BenchmarkStep with a discard Observer: the cost
// of building and delivering events. BenchmarkStep, with no Observer, builds
// none.
func BenchmarkStepObserved(b *testing.B) { benchStep(b, ratchet.DiscardObserver()) }

func benchStep(b *testing.B, obs ratchet.Observer) {
	ctx := context.Background()
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "bench", Model: newLoopModel(), Instructions: "Add numbers.",
		Tools:    []ratchet.Tool{ratchet.NewTool("add", "Adds two integers.", add)},
		Store:    store.NewMemory(nil),
		Budget:   ratchet.Budget{MaxSteps: ratchet.Unlimited},
		Observer: obs,
	})
	if err != nil {
		b.Fatal(err)
	}
	// Runs are started before the clock starts: starting one is not a step.
	runs := make([]*ratchet.Run, (b.N+benchRunLen-1)/benchRunLen)
	for i := range runs {
		runs[i], err = a.Start(ctx, "add 1 and 2, forever", &ratchet.RunOptions{ID: "r" + strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := runs[i/benchRunLen].Step(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStepBaseline is the same step written by hand without ratchet:
// call the fake model, decode the arguments, call the function, encode the
// result, append the messages. It is the floor BenchmarkStep is measured
// against.
func BenchmarkStepBaseline(b *testing.B) {
	ctx := context.Background()
	m := newLoopModel()
	var msgs []ratchet.Message
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%benchRunLen == 0 {
			msgs = []ratchet.Message{{Role: ratchet.RoleSystem, Content: "Add numbers."}, {Role: ratchet.RoleUser, Content: "add 1 and 2, forever"}}
		}
		req := &ratchet.Request{Messages: msgs}
		resp, err := m.Generate(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, resp.Message)
		for _, c := range resp.Message.ToolCalls {
			var in addArgs
			if err := json.Unmarshal([]byte(c.Arguments), &in); err != nil {
				b.Fatal(err)
			}
			out, err := add(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			res, err := json.Marshal(out)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, ratchet.Message{Role: ratchet.RoleTool, ToolCallID: c.ID, Content: string(res)})
		}
	}
}

// BenchmarkStartRun times Agent.Start: a run made, its run_started record
// encoded, folded and created in a memory store. (A fresh store every
// 4,096 runs, off the clock, keeps the heap small.)
func BenchmarkStartRun(b *testing.B) {
	ctx := context.Background()
	var a *ratchet.Agent
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%4096 == 0 {
			b.StopTimer()
			var err error
			a, err = ratchet.NewAgent(ratchet.Config{Name: "bench", Model: newLoopModel(), Instructions: "Add numbers.",
				Tools: []ratchet.Tool{ratchet.NewTool("add", "Adds two integers.", add)}, Store: store.NewMemory(nil)})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if _, err := a.Start(ctx, "add 1 and 2, forever", nil); err != nil {
			b.Fatal(err)
		}
	}
}
