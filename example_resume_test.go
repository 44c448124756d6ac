package ratchet_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// invoicer is the agent of both "processes" below: the same name, tools
// and Owner, over the store and model each process has.
func invoicer(st store.Store, clock ratchet.Clock, model ratchet.Model, owner string) *ratchet.Agent {
	type invoiceIn struct {
		Customer string `json:"customer"`
	}
	send := ratchet.NewTool("send_invoice", "Sends the month's invoice.", func(ctx context.Context, in invoiceIn) (string, error) {
		fmt.Println("send_invoice runs for", in.Customer, "with key", ratchet.IdempotencyKey(ctx))
		return "invoice 2026-001 sent", nil
	})
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "invoicer", Model: model, Tools: []ratchet.Tool{send},
		Store: st, Clock: clock, Owner: owner,
		NewID: func() string { return "invoice-acme" },
	})
	if err != nil {
		panic(err)
	}
	return agent
}

// A run in a File store survives the process. The first process steps
// once (the model asked for a tool call, the call ran, both are in the
// store) and crashes. The second opens the same directory and resumes:
// the model is not asked again for step 1 and the invoice is not sent
// again.
//
// Whoever steps a run holds its lease. The dead process never released
// it, so another owner finds the run busy until the lease expires
// (Config.LeaseTTL); a process that restarts under the same stable
// Config.Owner takes it back at once.
func ExampleAgent_Resume() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ratchet-resume-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	clock := ratchettest.NewClock(ratchettest.Epoch())

	// Process 1.
	st, err := store.NewFile(dir, nil)
	if err != nil {
		panic(err)
	}
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.ToolCalls(ratchettest.Call{Name: "send_invoice", Args: `{"customer":"ACME"}`}),
	)
	run, err := invoicer(st, clock, model, "pod-1").Start(ctx, "Invoice ACME for January.", nil)
	if err != nil {
		panic(err)
	}
	step, err := run.Step(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Print(step)
	// The crash: the Run is dropped without Close, so its lease stays.
	if err := st.Close(); err != nil {
		panic(err)
	}

	// Process 2, on the same directory.
	st, err = store.NewFile(dir, nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	model = ratchettest.NewModel(&ratchettest.ExampleTB{}, ratchettest.Text("ACME is invoiced."))
	_, err = invoicer(st, clock, model, "pod-2").Resume(ctx, "invoice-acme", nil)
	var busy *ratchet.RunBusyError
	if errors.As(err, &busy) {
		fmt.Println("pod-2:", errors.Is(err, ratchet.ErrRunBusy), "leased by", busy.Owner)
	}
	run, err = invoicer(st, clock, model, "pod-1").Resume(ctx, "invoice-acme", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("pod-1 resumes at step", run.State().Step, run.Status())
	for !run.Status().Ended() {
		step, err := run.Step(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Print(step)
	}
	fmt.Println(model.Calls(), "model call in process 2")
	// Output:
	// send_invoice runs for ACME with key invoice-acme/1/0
	// step 1 status=running
	//   model_responded step=1 finish=tool_calls usage=10/5 call[0]=send_invoice#call_1({"customer":"ACME"})
	//   tool_started step=1 call[0]=send_invoice#call_1 key=invoice-acme/1/0
	//   tool_finished step=1 call[0]=send_invoice#call_1 key=invoice-acme/1/0 -> "invoice 2026-001 sent"
	// pod-2: true leased by pod-1
	// pod-1 resumes at step 1 running
	// step 2 status=succeeded
	//   model_responded step=2 finish=stop usage=10/5 text="ACME is invoiced."
	//   run_completed step=2 output="ACME is invoiced."
	// 1 model call in process 2
}
