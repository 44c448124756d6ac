package ratchet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

type seatsIn struct {
	Flight string `json:"flight"`
}

// askSeats is a tool that asks a person how many seats to book; the
// answer, checked against the schema, becomes the call's result.
func askSeats() ratchet.Tool {
	return ratchet.NewTool("ask_seats", "Asks the traveller how many seats to book.", func(ctx context.Context, in seatsIn) (string, error) {
		return "", ratchet.Interrupt(ratchet.Question{
			Prompt: "How many seats on " + in.Flight + "?",
			Schema: json.RawMessage(`{"type":"integer","minimum":1,"maximum":9}`),
		})
	})
}

// A tool asks a person a question by returning Interrupt: the run is
// persisted as waiting and needs no memory until the answer comes. Any
// process answers it with AnswerRun (the ratchet CLI's answer command does
// the same), and Agent.Resume continues the run with the answer as the
// call's result.
func ExampleInterrupt() {
	ctx := context.Background()
	st := store.NewMemory(nil)
	clock := ratchettest.NewClock(ratchettest.Epoch())
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.ToolCalls(ratchettest.Call{Name: "ask_seats", Args: `{"flight":"LH 454"}`}),
		ratchettest.Text("Booked 2 seats on LH 454."),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "booker", Model: model, Tools: []ratchet.Tool{askSeats()},
		Store: st, Clock: clock, NewID: func() string { return "trip-1" },
	})
	if err != nil {
		panic(err)
	}
	run, err := agent.Start(ctx, "Book my usual flight.", nil)
	if err != nil {
		panic(err)
	}
	step, err := run.Step(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Print(step)
	q := run.State().Interrupts[0]
	fmt.Printf("%s asks %q\n", q.ID, q.Prompt)

	// Days later, in another process: the answer must fit the schema, and
	// is used exactly once.
	clock.Advance(72 * time.Hour)
	err = ratchet.AnswerRun(ctx, st, clock, "trip-1", q.ID, ratchet.Answer{Value: json.RawMessage(`12`)})
	fmt.Println("12 seats:", errors.Is(err, ratchet.ErrInvalidAnswer))
	if err := ratchet.AnswerRun(ctx, st, clock, "trip-1", q.ID, ratchet.Answer{Value: json.RawMessage(`2`)}); err != nil {
		panic(err)
	}
	err = ratchet.AnswerRun(ctx, st, clock, "trip-1", q.ID, ratchet.Answer{Value: json.RawMessage(`3`)})
	fmt.Println("a second answer:", errors.Is(err, ratchet.ErrAlreadyAnswered))

	run, err = agent.Resume(ctx, "trip-1", nil)
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
	reqs := model.Requests()
	last := reqs[len(reqs)-1].Messages
	fmt.Println("the tool's result:", last[len(last)-1].Content)
	// Output:
	// step 1 status=waiting
	//   model_responded step=1 finish=tool_calls usage=10/5 call[0]=ask_seats#call_1({"flight":"LH 454"})
	//   tool_started step=1 call[0]=ask_seats#call_1 key=trip-1/1/0
	//   interrupted step=1
	// s1-c0-question1 asks "How many seats on LH 454?"
	// 12 seats: true
	// a second answer: true
	// step 2 status=succeeded
	//   model_responded step=2 finish=stop usage=10/5 text="Booked 2 seats on LH 454."
	//   run_completed step=2 output="Booked 2 seats on LH 454."
	// the tool's result: 2
}

// Under a Scheduler a waiting run leaves its worker free; Answer persists
// the answer and hands the run to a worker again, which continues it.
func ExampleScheduler_Answer() {
	ctx := context.Background()
	st := store.NewMemory(nil)
	clock := ratchettest.NewClock(ratchettest.Epoch())
	rested := newRests()
	model := ratchettest.NewModelFunc(&ratchettest.ExampleTB{}, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		if last := req.Messages[len(req.Messages)-1]; last.Role == ratchet.RoleTool {
			return ratchettest.Text("Booked " + last.Content + " seats.")
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "ask_seats", Args: `{"flight":"AF 1234"}`})
	})
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "booker", Model: model, Tools: []ratchet.Tool{askSeats()},
		Store: st, Clock: clock, NewID: func() string { return "trip-2" }, Observer: rested,
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

	id, err := s.StartRun(ctx, "booker", "Book my flight to Paris.", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(rested.next())
	state, err := ratchet.LoadState(ctx, st, id)
	if err != nil {
		panic(err)
	}
	q := state.Interrupts[0]
	fmt.Printf("%s: %s\n", q.Kind, q.Prompt)

	if err := s.Answer(ctx, id, q.ID, ratchet.Answer{Value: json.RawMessage(`3`)}); err != nil {
		panic(err)
	}
	fmt.Println(rested.next())
	state, err = ratchet.LoadState(ctx, st, id)
	if err != nil {
		panic(err)
	}
	fmt.Println(state.Output)
	// Output:
	// trip-2 waiting
	// question: How many seats on AF 1234?
	// trip-2 succeeded
	// Booked 3 seats.
}
