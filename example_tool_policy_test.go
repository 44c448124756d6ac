package ratchet_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

type orderIn struct {
	Order string `json:"order"`
}

// crashDuringCall runs one step in which tool is called and the process
// "crashes" while the call runs: the call's tool_started is in the store,
// its tool_finished never gets there (the store fails every append from
// inside the call). A new process then resumes the run and takes one
// step, which finishes the open call by tool's policy; crashDuringCall
// returns that Step and its error.
func crashDuringCall(ctx context.Context, tool ratchet.Tool, args string) (ratchet.Step, error) {
	fs := ratchettest.NewFaultStore(store.NewMemory(nil))
	crash := ratchet.NewTool(tool.Spec().Name, tool.Spec().Description, func(ctx context.Context, in orderIn) (string, error) {
		defer fs.FailAppends(ratchettest.ErrIO())
		return tool.Call(ctx, []byte(args))
	})
	newAgent := func(t ratchet.Tool, replies ...ratchettest.Reply) *ratchet.Agent {
		agent, err := ratchet.NewAgent(ratchet.Config{
			Name: "shop", Model: ratchettest.NewModel(&ratchettest.ExampleTB{}, replies...),
			Tools: []ratchet.Tool{t}, Store: fs.Store(), Owner: "pod-1",
			Clock: ratchettest.NewClock(ratchettest.Epoch()), NewID: func() string { return "order-9" },
		})
		if err != nil {
			panic(err)
		}
		return agent
	}

	first := newAgent(crash, ratchettest.ToolCalls(ratchettest.Call{Name: tool.Spec().Name, Args: args}))
	run, err := first.Start(ctx, "Handle order 9.", nil)
	if err != nil {
		panic(err)
	}
	if _, err := run.Step(ctx); !errors.Is(err, ratchet.ErrRunBroken) {
		panic(fmt.Sprint("the crash did not happen: ", err))
	}

	fs.FailAppends(nil) // the new process's disk works
	second := newAgent(tool, ratchettest.Text("done"))
	run, err = second.Resume(ctx, "order-9", nil)
	if err != nil {
		panic(err)
	}
	return run.Step(ctx)
}

// An Idempotent tool is safe to run again with the same idempotency key:
// a call found started but not finished when the run resumes (the process
// died while it ran) runs again, with the key it had. Pass the key to the
// external system so that it does the work once.
func ExampleIdempotent() {
	reserve := ratchet.NewTool("reserve_stock", "Reserves the order's items.", func(ctx context.Context, in orderIn) (string, error) {
		fmt.Println("reserve_stock runs with key", ratchet.IdempotencyKey(ctx))
		return "reserved " + in.Order, nil
	}, ratchet.Idempotent())
	step, err := crashDuringCall(context.Background(), reserve, `{"order":"9"}`)
	fmt.Print(step)
	fmt.Println(err)
	// Output:
	// reserve_stock runs with key order-9/1/0
	// reserve_stock runs with key order-9/1/0
	// step 1 resumed status=running
	//   tool_started step=1 call[0]=reserve_stock#call_1 key=order-9/1/0 attempt=2
	//   tool_finished step=1 call[0]=reserve_stock#call_1 key=order-9/1/0 attempt=2 -> "reserved 9"
	// <nil>
}

// A call of a tool that is not idempotent, found started but not finished
// when the run resumes, may or may not have acted. By default the model is
// told that the outcome is unknown (UnknownOutcomeReport);
// UnknownOutcomeFail fails the run instead, for a person to look at, and
// UnknownOutcomeRerun runs the call again.
func ExampleWithOnUnknownOutcome() {
	ctx := context.Background()
	for _, onUnknown := range []ratchet.UnknownOutcomeAction{ratchet.UnknownOutcomeReport, ratchet.UnknownOutcomeFail} {
		charge := ratchet.NewTool("charge_card", "Charges the customer's card.", func(ctx context.Context, in orderIn) (string, error) {
			fmt.Println("charge_card runs with key", ratchet.IdempotencyKey(ctx))
			return "charged", nil
		}, ratchet.WithOnUnknownOutcome(onUnknown))
		step, err := crashDuringCall(ctx, charge, `{"order":"9"}`)
		fmt.Printf("%s: %s", onUnknown, step)
		var te *ratchet.ToolError
		if errors.As(err, &te) {
			fmt.Println("error:", te.Kind)
		}
	}
	// Output:
	// charge_card runs with key order-9/1/0
	// report: step 1 resumed status=running
	//   tool_finished step=1 call[0]=charge_card#call_1 key=order-9/1/0 error=unknown_outcome -> "error: the outcome of this call is unknown: the run was interrupted while the tool was running, and the tool is not idempotent, so it was not run again. It may or may not have taken effect; check before calling it again."
	// charge_card runs with key order-9/1/0
	// fail: step 1 resumed status=failed
	//   tool_finished step=1 call[0]=charge_card#call_1 key=order-9/1/0 error=unknown_outcome -> "error: the outcome of this call is unknown: the run was interrupted while the tool was running, and the tool is not idempotent, so it was not run again. It may or may not have taken effect; check before calling it again."
	//   run_failed step=1 error=tool:unknown_outcome "ratchet: tool \"charge_card\" (call call_1, attempt 1) unknown_outcome: the run stopped while the call ran"
	// error: unknown_outcome
}

// WithTimeout bounds each call of a tool: its context is cancelled when
// the time is up, and the call fails as a *ToolError of kind timeout,
// which is reported to the model by default. (A tool that is not
// idempotent may have acted before it stopped, so its timeout is reported
// as an unknown outcome.)
func ExampleWithTimeout() {
	ctx := context.Background()
	slow := ratchet.NewTool("lookup", "Looks the order up in a slow system.", func(ctx context.Context, in orderIn) (string, error) {
		<-ctx.Done() // the system never answers
		return "", ctx.Err()
	}, ratchet.Idempotent(), ratchet.WithTimeout(20*time.Millisecond))
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.ToolCalls(ratchettest.Call{Name: "lookup", Args: `{"order":"9"}`}),
		ratchettest.Text("The order system does not answer; try again later."),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{Name: "support", Model: model, Tools: []ratchet.Tool{slow}})
	if err != nil {
		panic(err)
	}
	run, err := agent.Start(ctx, "Where is order 9?", nil)
	if err != nil {
		panic(err)
	}
	step, err := run.Step(ctx)
	if err != nil {
		panic(err)
	}
	r := step.Results()[0]
	fmt.Printf("%s: %s\n", r.Error, r.Content)
	out, err := run.Wait(ctx)
	fmt.Println(out, err)
	// Output:
	// timeout: error: the tool did not finish within its timeout
	// The order system does not answer; try again later. <nil>
}

// WithOnError says what a failed call does to its run. By default the
// error is the call's result and the model decides (ToolErrorReport);
// ToolErrorFail fails the run, ToolErrorRetry retries an idempotent tool,
// and ToolErrorPause pauses the run so that the call runs again when it
// resumes: here after the upstream service is back.
func ExampleWithOnError() {
	ctx := context.Background()
	up := false
	ship := ratchet.NewTool("ship", "Books the courier.", func(ctx context.Context, in orderIn) (string, error) {
		if !up {
			return "", errors.New("courier API: 503 Service Unavailable")
		}
		return "courier booked for " + in.Order, nil
	}, ratchet.WithOnError(ratchet.ToolErrorPause))
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.ToolCalls(ratchettest.Call{Name: "ship", Args: `{"order":"9"}`}),
		ratchettest.Text("Order 9 ships today."),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "shipper", Model: model, Tools: []ratchet.Tool{ship},
		NewID: func() string { return "order-9" },
	})
	if err != nil {
		panic(err)
	}
	run, err := agent.Start(ctx, "Ship order 9.", nil)
	if err != nil {
		panic(err)
	}
	step, err := run.Step(ctx)
	fmt.Print(step)
	var te *ratchet.ToolError
	if errors.As(err, &te) {
		fmt.Println(run.Status(), te.Tool, te.Kind)
	}

	up = true // later: the courier's API is back
	for !run.Status().Ended() {
		step, err := run.Step(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Print(step)
	}
	// Output:
	// step 1 status=paused
	//   model_responded step=1 finish=tool_calls usage=10/5 call[0]=ship#call_1({"order":"9"})
	//   tool_started step=1 call[0]=ship#call_1 key=order-9/1/0
	//   tool_failed step=1 call[0]=ship#call_1 key=order-9/1/0 error=tool:error "ratchet: tool \"ship\" (call call_1, attempt 1) error: courier API: 503 Service Unavailable"
	//   run_paused step=1 error=tool:error "ratchet: tool \"ship\" (call call_1, attempt 1) error: courier API: 503 Service Unavailable"
	// paused ship error
	// step 1 resumed status=running
	//   run_resumed step=1
	//   tool_started step=1 call[0]=ship#call_1 key=order-9/1/0 attempt=2
	//   tool_finished step=1 call[0]=ship#call_1 key=order-9/1/0 attempt=2 -> "courier booked for 9"
	// step 2 status=succeeded
	//   model_responded step=2 finish=stop usage=10/5 text="Order 9 ships today."
	//   run_completed step=2 output="Order 9 ships today."
}
