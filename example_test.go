package ratchet_test

import (
	"context"
	"fmt"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

// This example runs an agent with one typed tool on a scripted model and
// prints each step's stable text form.
func Example() {
	ctx := context.Background()
	type AddArgs struct {
		A int `json:"a"`
		B int `json:"b"`
	}
	t := &ratchettest.ExampleTB{}
	model := ratchettest.NewModel(t,
		ratchettest.ToolCalls(ratchettest.Call{Name: "add", Args: `{"a":2,"b":3}`}),
		ratchettest.Text("2 + 3 = 5"),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name:  "calc",
		Model: model,
		Tools: []ratchet.Tool{ratchet.NewTool("add", "Adds two integers.",
			func(ctx context.Context, in AddArgs) (int, error) { return in.A + in.B, nil })},
		NewID: func() string { return "run-1" },
	})
	if err != nil {
		panic(err)
	}
	run, err := agent.Start(ctx, "What is 2+3?", nil)
	if err != nil {
		panic(err)
	}
	for !run.Status().Ended() {
		step, err := run.Step(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Print(step)
	}
	fmt.Println(run.Output())
	// Output:
	// step 1 status=running
	//   model_responded step=1 finish=tool_calls usage=10/5 call[0]=add#call_1({"a":2,"b":3})
	//   tool_started step=1 call[0]=add#call_1 key=run-1/1/0
	//   tool_finished step=1 call[0]=add#call_1 key=run-1/1/0 -> "5"
	// step 2 status=succeeded
	//   model_responded step=2 finish=stop usage=10/5 text="2 + 3 = 5"
	//   run_completed step=2 output="2 + 3 = 5"
	// 2 + 3 = 5
}

// This example shows a typed final answer: the schema of Verdict goes to
// the model as the response format, and DecodeOutput decodes the answer.
func ExampleTypedOutput() {
	ctx := context.Background()
	type Verdict struct {
		Answer int `json:"answer"`
	}
	model := ratchettest.NewModel(&ratchettest.ExampleTB{}, ratchettest.Text(`{"answer": 5}`))
	agent, err := ratchet.NewAgent(ratchet.Config{Name: "typed", Model: model, Output: ratchet.TypedOutput[Verdict]()})
	if err != nil {
		panic(err)
	}
	run, err := agent.Start(ctx, "What is 2+3?", nil)
	if err != nil {
		panic(err)
	}
	if _, err := run.Wait(ctx); err != nil {
		panic(err)
	}
	v, err := ratchet.DecodeOutput[Verdict](run)
	fmt.Println(v.Answer, err)
	// Output: 5 <nil>
}
