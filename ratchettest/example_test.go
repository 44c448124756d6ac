package ratchettest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

// A scripted model answers in order, records every request, and can fail
// on cue: here a rate limit at the first call, which the default retry
// policy retries after the provider's Retry-After (on a fake clock, so the
// example does not sleep).
func ExampleNewModel() {
	ctx := context.Background()
	clock := ratchettest.NewClock(ratchettest.Epoch())
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelRateLimited, StatusCode: 429, RetryAfter: 2e9}),
		ratchettest.Text("hello"),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{Name: "greeter", Model: model, Clock: clock})
	if err != nil {
		panic(err)
	}
	done := make(chan string)
	go func() {
		out, err := agent.Run(ctx, "say hello", nil)
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	clock.WaitForWaiters(1, 5e9) // the run sleeps before retrying
	clock.Advance(2e9)
	fmt.Println(<-done)
	fmt.Println(model.Calls(), "calls;", len(model.Requests()[1].Messages), "message in the retried request")
	// Output:
	// hello
	// 2 calls; 1 message in the retried request
}

// Faults: a reply can return an error, wait, or panic. A panicking model
// is recovered into a *ratchet.ModelError.
func ExampleReply() {
	model := ratchettest.NewModel(&ratchettest.ExampleTB{}, ratchettest.Reply{Panic: "boom"})
	agent, _ := ratchet.NewAgent(ratchet.Config{Name: "p", Model: model, Retry: ratchet.RetryPolicy{MaxAttempts: 1}})
	_, err := agent.Run(context.Background(), "hi", nil)
	var me *ratchet.ModelError
	fmt.Println(errors.As(err, &me), me.Kind)
	// Output: true transient
}
