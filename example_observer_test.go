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
