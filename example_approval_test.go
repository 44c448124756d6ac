package ratchet_test

import (
	"context"
	"fmt"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// A tool made with NeedsApproval never runs on the model's word alone:
// each call waits, persisted, for a person to approve it. An approval runs
// the call; a rejection tells the model, with the reason, and the tool
// never runs.
func ExampleNeedsApproval() {
	ctx := context.Background()
	st := store.NewMemory(nil)
	clock := ratchettest.NewClock(ratchettest.Epoch())
	rested := newRests()

	type branchIn struct {
		Branch string `json:"branch"`
	}
	deleteBranch := ratchet.NewTool("delete_branch", "Deletes a git branch for good.",
		func(ctx context.Context, in branchIn) (string, error) {
			fmt.Println("  (the tool deletes", in.Branch+")")
			return "deleted " + in.Branch, nil
		}, ratchet.NeedsApproval())
	model := ratchettest.NewModelFunc(&ratchettest.ExampleTB{}, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		last := req.Messages[len(req.Messages)-1]
		if last.Role == ratchet.RoleTool {
			return ratchettest.Text("The tool said: " + last.Content)
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "delete_branch", Args: fmt.Sprintf(`{"branch":%q}`, last.Content)})
	})
	n := 0
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "janitor", Model: model, Tools: []ratchet.Tool{deleteBranch},
		Store: st, Clock: clock, Observer: rested,
		NewID: func() string { n++; return fmt.Sprintf("cleanup-%d", n) },
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

	for _, answer := range []ratchet.Answer{
		{Approved: true},
		{Approved: false, Reason: "main is protected"},
	} {
		branch := "release-2019"
		if !answer.Approved {
			branch = "main"
		}
		id, err := s.StartRun(ctx, "janitor", branch, nil)
		if err != nil {
			panic(err)
		}
		fmt.Println(rested.next())
		state, err := ratchet.LoadState(ctx, st, id)
		if err != nil {
			panic(err)
		}
		p := state.Interrupts[0]
		fmt.Printf("  %s of %s(%s)\n", p.Kind, p.Tool, p.Args)
		if err := s.Answer(ctx, id, p.ID, answer); err != nil {
			panic(err)
		}
		fmt.Println(rested.next())
		state, err = ratchet.LoadState(ctx, st, id)
		if err != nil {
			panic(err)
		}
		fmt.Println(" ", state.Output)
	}
	// Output:
	// cleanup-1 waiting
	//   approval of delete_branch({"branch":"release-2019"})
	//   (the tool deletes release-2019)
	// cleanup-1 succeeded
	//   The tool said: deleted release-2019
	// cleanup-2 waiting
	//   approval of delete_branch({"branch":"main"})
	// cleanup-2 succeeded
	//   The tool said: error: a person rejected this call: main is protected
}
