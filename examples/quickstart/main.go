// Command quickstart runs a small agent with two real tools, a calculator
// and a clock, on a scripted model, so it works offline:
//
//	go run ./examples/quickstart
//
// It prints each step as it happens on stderr and the final answer on
// stdout. When the run fails it exits non-zero with the typed error's
// message on stderr.
//
// With -store DIR the run is durable, in a File store in DIR:
//
//	go run ./examples/quickstart -store /tmp/qs
//
// Started again with the same directory, it resumes the unfinished run
// (wherever the previous process was killed) instead of starting a new
// one, and it reports a finished run instead of redoing it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// CalcArgs are the calculator's arguments.
type CalcArgs struct {
	Op string  `json:"op" jsonschema:"enum=add,enum=sub,enum=mul,enum=div,description=the operation"`
	A  float64 `json:"a" jsonschema:"description=left operand"`
	B  float64 `json:"b" jsonschema:"description=right operand"`
}

func calculate(_ context.Context, in CalcArgs) (float64, error) {
	switch in.Op {
	case "add":
		return in.A + in.B, nil
	case "sub":
		return in.A - in.B, nil
	case "mul":
		return in.A * in.B, nil
	case "div":
		if in.B == 0 {
			return 0, errors.New("division by zero")
		}
		return in.A / in.B, nil
	}
	return 0, fmt.Errorf("unknown op %q", in.Op)
}

// ClockArgs are the clock's arguments.
type ClockArgs struct {
	Zone string `json:"zone,omitempty" jsonschema:"description=IANA time zone such as Europe/Paris; UTC when empty"`
}

func now(_ context.Context, in ClockArgs) (string, error) {
	loc := time.UTC
	if in.Zone != "" {
		l, err := time.LoadLocation(in.Zone)
		if err != nil {
			return "", err
		}
		loc = l
	}
	return time.Now().In(loc).Format(time.RFC3339), nil
}

// scriptedModel plays the part of a language model, offline: it asks for
// both tools, then answers from their results.
type scriptedModel struct{}

func (scriptedModel) Generate(_ context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	var results []string
	for _, m := range req.Messages {
		if m.Role == ratchet.RoleTool {
			results = append(results, m.Content)
		}
	}
	if len(results) < 2 {
		return &ratchet.Response{
			Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: []ratchet.ToolCall{
				{ID: "call_1", Name: "calculator", Arguments: `{"op":"mul","a":6,"b":7}`},
				{ID: "call_2", Name: "clock", Arguments: `{"zone":"UTC"}`},
			}},
			FinishReason: ratchet.FinishToolCalls,
		}, nil
	}
	return &ratchet.Response{
		Message:      ratchet.Message{Role: ratchet.RoleAssistant, Content: fmt.Sprintf("6 × 7 = %s, and it is %s.", results[0], results[1])},
		FinishReason: ratchet.FinishStop,
	}, nil
}

func main() {
	dir := flag.String("store", "", "keep the run in a File store in this `directory`, resuming an unfinished run found there")
	flag.Parse()
	if err := run(context.Background(), *dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string) error {
	model, err := chooseModel()
	if err != nil {
		return err
	}
	var st store.Store // nil: the agent's own memory store
	if dir != "" {
		fs, err := store.NewFile(dir, nil)
		if err != nil {
			return err
		}
		defer fs.Close()
		st = fs
	}
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name:         "quickstart",
		Store:        st,
		Model:        model,
		Instructions: "You are a careful assistant. Use the calculator for arithmetic and the clock for the time.",
		Tools: []ratchet.Tool{
			ratchet.NewTool("calculator", "Computes a op b.", calculate, ratchet.Idempotent()),
			ratchet.NewTool("clock", "Returns the current time.", now, ratchet.Idempotent()),
		},
		// One process per store directory: a rerun after a crash takes the
		// run's lease back at once (leases keep two processes from stepping
		// one run; see Config.Owner).
		Owner: "quickstart",
	})
	if err != nil {
		return err
	}
	r, err := startOrResume(ctx, agent, dir != "")
	if err != nil {
		return err
	}
	for !r.Status().Ended() {
		st, err := r.Step(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(os.Stderr, st.String())
	}
	fmt.Println(r.Output())
	return nil
}

// startOrResume resumes the newest unfinished quickstart run in a durable
// store, or starts a new run when there is none. A finished run found there
// is returned as it is: Output reports it and nothing is redone.
func startOrResume(ctx context.Context, agent *ratchet.Agent, durable bool) (*ratchet.Run, error) {
	if durable {
		infos, err := agent.Store().List(ctx, store.Query{Agent: agent.Name()})
		if err != nil {
			return nil, err
		}
		for _, info := range infos { // newest first
			if !ratchet.Status(info.Status).Ended() {
				fmt.Fprintf(os.Stderr, "resuming run %s (%s, %d steps so far)\n", info.ID, info.Status, info.Totals.Steps)
				return agent.Resume(ctx, info.ID, nil)
			}
		}
		for _, info := range infos {
			if ratchet.Status(info.Status) == ratchet.StatusSucceeded {
				fmt.Fprintf(os.Stderr, "run %s already finished; not running it again\n", info.ID)
				return agent.Resume(ctx, info.ID, nil)
			}
		}
	}
	r, err := agent.Start(ctx, "What is 6 times 7, and what time is it?", nil)
	if err == nil && durable {
		fmt.Fprintf(os.Stderr, "started run %s\n", r.ID())
	}
	return r, err
}
