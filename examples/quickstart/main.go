// Command quickstart runs a small agent with two real tools, a calculator
// and a clock, on a scripted model, so it works offline:
//
//	go run ./examples/quickstart
//
// It prints each step as it happens and the final answer on stdout. When the
// run fails it exits non-zero with the typed error's message on stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ratchet-run/ratchet"
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
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	model, err := chooseModel()
	if err != nil {
		return err
	}
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name:         "quickstart",
		Model:        model,
		Instructions: "You are a careful assistant. Use the calculator for arithmetic and the clock for the time.",
		Tools: []ratchet.Tool{
			ratchet.NewTool("calculator", "Computes a op b.", calculate, ratchet.Idempotent()),
			ratchet.NewTool("clock", "Returns the current time.", now, ratchet.Idempotent()),
		},
	})
	if err != nil {
		return err
	}
	r, err := agent.Start(ctx, "What is 6 times 7, and what time is it?", nil)
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
