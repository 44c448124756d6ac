package ratchet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// A tool returns WaitForEvent to make its run wait for an event by name;
// Send delivers it, persisted before Send returns, and its data becomes
// the call's result. An event sent to a run that is busy stepping queues
// for its next step (AgentOptions.OnBusy), and one that no tool waits for
// reaches the model as a user message.
func ExampleScheduler_Send() {
	ctx := context.Background()
	st := store.NewMemory(nil)
	clock := ratchettest.NewClock(ratchettest.Epoch())
	rested := newRests()

	awaitPayment := ratchet.NewTool("await_payment", "Waits for the order's payment, for up to a week.", func(ctx context.Context, in struct{}) (string, error) {
		return "", ratchet.WaitForEvent("payment", clock.Now().Add(7*24*time.Hour))
	})
	model := ratchettest.NewModelFunc(&ratchettest.ExampleTB{}, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		if last := req.Messages[len(req.Messages)-1]; last.Role == ratchet.RoleTool {
			return ratchettest.Text("Paid: " + last.Content + ". Shipping the order.")
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "await_payment", Args: `{}`})
	})
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "shop", Model: model, Tools: []ratchet.Tool{awaitPayment},
		Store: st, Clock: clock, NewID: func() string { return "order-17" }, Observer: rested,
	})
	if err != nil {
		panic(err)
	}
	s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: st, Clock: clock, Owner: "worker-a"})
	if err != nil {
		panic(err)
	}
	if err := s.Register(agent, nil); err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	defer s.Stop(ctx)

	id, err := s.StartRun(ctx, "shop", "Ship order 17 once it is paid.", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(rested.next())
	state, err := ratchet.LoadState(ctx, st, id)
	if err != nil {
		panic(err)
	}
	fmt.Println("waits for:", state.Interrupts[0].Event)

	// The payment provider's webhook, in whichever process receives it.
	payment := ratchet.RunEvent{Name: "payment", Data: json.RawMessage(`{"amount":"42.00","currency":"EUR"}`)}
	if err := s.Send(ctx, id, payment); err != nil {
		panic(err)
	}
	fmt.Println(rested.next())
	state, err = ratchet.LoadState(ctx, st, id)
	if err != nil {
		panic(err)
	}
	fmt.Println(state.Output)
	// Output:
	// order-17 waiting
	// waits for: payment
	// order-17 succeeded
	// Paid: {"amount":"42.00","currency":"EUR"}. Shipping the order.
}
