package ratchet_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// researcher returns an agent whose model searches three times before it
// answers; asked to wind down (a request without tools), it answers with
// what it has.
func researcher(st store.Store, budget ratchet.Budget) *ratchet.Agent {
	search := ratchet.NewTool("search", "Searches the archive.", func(ctx context.Context, in struct {
		Query string `json:"query"`
	}) (string, error) {
		return "a result for " + in.Query, nil
	})
	model := ratchettest.NewModelFunc(&ratchettest.ExampleTB{}, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		searches := 0
		for _, m := range req.Messages {
			if m.Role == ratchet.RoleTool {
				searches++
			}
		}
		switch {
		case len(req.Tools) == 0:
			return ratchettest.Text(fmt.Sprintf("Best answer after %d searches.", searches))
		case searches < 3:
			return ratchettest.ToolCalls(ratchettest.Call{Name: "search", Args: fmt.Sprintf(`{"query":"q%d"}`, searches+1)})
		}
		return ratchettest.Text("Full answer after 3 searches.")
	})
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "researcher", Model: model, Tools: []ratchet.Tool{search}, Store: st,
		Clock: ratchettest.NewClock(ratchettest.Epoch()), Budget: budget,
		NewID: func() string { return "research-1" },
	})
	if err != nil {
		panic(err)
	}
	return agent
}

// A budget that runs out pauses the run with a *BudgetError and throws
// nothing away. Resuming it with a raised budget (RunOptions.Budget)
// continues where it stopped.
func ExampleBudget() {
	ctx := context.Background()
	agent := researcher(store.NewMemory(nil), ratchet.Budget{MaxSteps: 2})
	run, err := agent.Start(ctx, "Research the question.", nil)
	if err != nil {
		panic(err)
	}
	_, err = run.Wait(ctx)
	var be *ratchet.BudgetError
	if errors.As(err, &be) {
		fmt.Printf("%s: %s budget, used %v of %v\n", run.Status(), be.Budget, be.Used, be.Limit)
	}
	fmt.Println(errors.Is(err, ratchet.ErrBudgetExceeded), run.State().ToolCalls, "searches kept")

	run, err = agent.Resume(ctx, run.ID(), &ratchet.RunOptions{Budget: &ratchet.Budget{MaxSteps: 10}})
	if err != nil {
		panic(err)
	}
	out, err := run.Wait(ctx)
	fmt.Println(out, err)
	fmt.Println(run.State().Step, "steps in all")
	// Output:
	// paused: steps budget, used 2 of 2
	// true 2 searches kept
	// Full answer after 3 searches. <nil>
	// 4 steps in all
}

// An operator raises the budget of a paused run from any process with
// RetryRun (the ratchet CLI's retry command): the override is persisted in
// the run's log, so whichever process loads the run next (Agent.Resume, a
// Scheduler) continues it under the raised limit.
func ExampleRetryRun() {
	ctx := context.Background()
	st := store.NewMemory(nil)
	agent := researcher(st, ratchet.Budget{MaxSteps: 2})
	if _, err := agent.Run(ctx, "Research the question.", nil); err != nil {
		fmt.Println(err)
	}

	state, err := ratchet.RetryRun(ctx, st, nil, "research-1", &ratchet.Budget{MaxSteps: 10})
	if err != nil {
		panic(err)
	}
	fmt.Println(state.Status, state.Budget)

	run, err := agent.Resume(ctx, "research-1", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(run.Wait(ctx))
	_, err = ratchet.RetryRun(ctx, st, nil, "research-1", nil)
	var se *ratchet.RunStatusError
	fmt.Println(errors.As(err, &se), se.Status)
	// Output:
	// ratchet: budget exceeded: steps used 2 of limit 2
	// running max_steps=10
	// Full answer after 3 searches. <nil>
	// true succeeded
}

// With WindDown, a budget that runs out does not pause the run: the model
// is asked once, without tools, for its best final answer.
func ExampleBudget_windDown() {
	ctx := context.Background()
	agent := researcher(store.NewMemory(nil), ratchet.Budget{MaxSteps: 2, WindDown: true})
	run, err := agent.Start(ctx, "Research the question.", nil)
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
	// Output:
	// step 1 status=running
	//   model_responded step=1 finish=tool_calls usage=10/5 call[0]=search#call_1({"query":"q1"})
	//   tool_started step=1 call[0]=search#call_1 key=research-1/1/0
	//   tool_finished step=1 call[0]=search#call_1 key=research-1/1/0 -> "a result for q1"
	// step 2 status=running
	//   model_responded step=2 finish=tool_calls usage=10/5 call[0]=search#call_1({"query":"q2"})
	//   tool_started step=2 call[0]=search#call_1 key=research-1/2/0
	//   tool_finished step=2 call[0]=search#call_1 key=research-1/2/0 -> "a result for q2"
	// step 3 wind-down status=succeeded
	//   wind_down step=2 "You have reached this task's steps budget. Do not call any tools. Reply now with your best final answer from what you have so far." error=budget:steps "ratchet: budget exceeded: steps used 2 of limit 2"
	//   model_responded step=3 finish=stop usage=10/5 text="Best answer after 2 searches."
	//   run_completed step=3 output="Best answer after 2 searches."
}
