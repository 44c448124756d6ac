package ratchet_test

import (
	"context"
	"fmt"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

// printObserver prints the events an operator usually watches.
type printObserver struct{}

func (printObserver) Observe(ctx context.Context, e ratchet.Event) {
	switch e.Kind {
	case ratchet.EventRunStarted, ratchet.EventRunEnded:
		fmt.Println(e.Kind, e.RunID, e.Status)
	case ratchet.EventModelCall:
		fmt.Println(e.Kind, "step", e.Step, "attempt", e.Attempt, "tokens", e.Usage.Total())
	case ratchet.EventToolCall:
		fmt.Println(e.Kind, e.Tool, e.Key, "result bytes", e.ResultBytes)
	}
}

// An Observer sees every run, step, model call, tool call and checkpoint;
// ratchet.NewSlogObserver turns them into structured logs.
func ExampleObserver() {
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.ToolCalls(ratchettest.Call{Name: "shout", Args: `{"text":"hi"}`}),
		ratchettest.Text("HI"),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name:  "shouter",
		Model: model,
		Tools: []ratchet.Tool{ratchet.NewTool("shout", "Upper-cases text.", func(ctx context.Context, in struct {
			Text string `json:"text"`
		}) (string, error) {
			return "HI", nil
		})},
		NewID:    func() string { return "run-7" },
		Observer: printObserver{},
	})
	if err != nil {
		panic(err)
	}
	if _, err := agent.Run(context.Background(), "shout hi", nil); err != nil {
		panic(err)
	}
	// Output:
	// run_started run-7 running
	// model_call step 1 attempt 1 tokens 15
	// tool_call shout run-7/1/0 result bytes 2
	// model_call step 2 attempt 1 tokens 15
	// run_ended run-7 succeeded
}

// traceKey is the context key of the call names callNamer gives.
type traceKey struct{}

// callNamer is a CallObserver: it names each call before it starts, the
// way a tracer opens a span, and the call sees the name in its context.
type callNamer struct{}

func (callNamer) StartCall(ctx context.Context, e ratchet.Event) context.Context {
	name := fmt.Sprintf("%s/step-%d/%s", e.RunID, e.Step, e.Kind)
	if e.Tool != "" {
		name += "/" + e.Tool
	}
	return context.WithValue(ctx, traceKey{}, name)
}

func (callNamer) Observe(ctx context.Context, e ratchet.Event) {
	if name, ok := ctx.Value(traceKey{}).(string); ok {
		fmt.Println("ended", name, "err:", e.Err)
	}
}

// A CallObserver gives each model and tool call its context; the call's
// event comes back with it. Package ratchetotel uses this to make a call's
// span the parent of the spans the tool itself starts.
func ExampleCallObserver() {
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.ToolCalls(ratchettest.Call{Name: "lookup", Args: `{}`}),
		ratchettest.Text("found"),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name:  "finder",
		Model: model,
		Tools: []ratchet.Tool{ratchet.NewTool("lookup", "Looks something up.", func(ctx context.Context, in struct{}) (string, error) {
			fmt.Println("tool runs in", ctx.Value(traceKey{}))
			return "ok", nil
		})},
		NewID:    func() string { return "run-8" },
		Observer: callNamer{},
	})
	if err != nil {
		panic(err)
	}
	if _, err := agent.Run(context.Background(), "find it", nil); err != nil {
		panic(err)
	}
	// Output:
	// ended run-8/step-1/model_call err: <nil>
	// tool runs in run-8/step-1/tool_call/lookup
	// ended run-8/step-1/tool_call/lookup err: <nil>
	// ended run-8/step-2/model_call err: <nil>
}
