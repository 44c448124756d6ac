package ratchet_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

// A model call that fails for a reason that may pass (a rate limit, a
// server error, a timeout) is retried by Config.Retry; every failed
// attempt is in the run's log (model_failed, with the delay before the
// next attempt). Here the provider fails the first call with a 503,
// retried after the policy's backoff (InitialDelay, without jitter), and
// rate-limits the second, asking for 5s (Retry-After). The waits are on the fake clock, moved on only once
// the run sleeps on it, so the example does not sleep.
func ExampleRetryPolicy() {
	ctx := context.Background()
	clock := ratchettest.NewClock(ratchettest.Epoch())
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 503, Message: "overloaded"}),
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelRateLimited, StatusCode: 429, RetryAfter: 5 * time.Second}),
		ratchettest.Text("Hello!"),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "greeter", Model: model, Clock: clock,
		Retry: ratchet.RetryPolicy{MaxAttempts: 3, InitialDelay: 2 * time.Second, Jitter: -1},
	})
	if err != nil {
		panic(err)
	}
	run, err := agent.Start(ctx, "Say hello.", nil)
	if err != nil {
		panic(err)
	}
	type result struct {
		step ratchet.Step
		err  error
	}
	done := make(chan result)
	go func() {
		step, err := run.Step(ctx)
		done <- result{step, err}
	}()
	for _, d := range []time.Duration{2 * time.Second, 5 * time.Second} {
		clock.WaitForWaiters(1, 10*time.Second) // the run sleeps before its next attempt
		clock.Advance(d)
	}
	res := <-done
	fmt.Print(res.step)
	fmt.Println(res.err, res.step.Attempts, "attempts,", clock.Now().Sub(ratchettest.Epoch()), "on the clock")
	// Output:
	// step 1 status=succeeded
	//   model_failed step=1 attempt=1 delay=2s error=model:transient "ratchet: model transient (status 503): overloaded"
	//   model_failed step=1 attempt=2 delay=5s error=model:rate_limited "ratchet: model rate_limited (status 429) (retry after 5s)"
	//   model_responded step=1 finish=stop attempts=3 usage=10/5 text="Hello!"
	//   run_completed step=1 output="Hello!"
	// <nil> 3 attempts, 7s on the clock
}

// Backoff gives the policy's schedule: before attempt n+1 it waits
// min(MaxDelay, InitialDelay × Multiplier^(n-1)), less a random fraction
// of up to Jitter. With the defaults and jitter disabled:
func ExampleRetryPolicy_Backoff() {
	p := ratchet.RetryPolicy{Jitter: -1}
	for attempt := 1; attempt <= 6; attempt++ {
		fmt.Printf("after attempt %d: %v\n", attempt, p.Backoff(attempt, nil))
	}
	// Output:
	// after attempt 1: 1s
	// after attempt 2: 2s
	// after attempt 3: 4s
	// after attempt 4: 8s
	// after attempt 5: 16s
	// after attempt 6: 30s
}
