package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// cmdRetry marks a paused run for resumption: ratchet retry RUN
// [-max-steps N] [-max-cost USD] [-max-tokens N] [-max-input-tokens N]
// [-max-output-tokens N] [-max-tool-calls N] [-max-wall-time D]
// [-step-timeout D] [-wind-down].
//
// The CLI has no model, so it does not step the run. It appends a
// run_resumed record carrying the budget flags given (a budget override;
// -1 lifts a limit) and sets the run's index status back to running. The
// next process that loads the run continues it: a Scheduler recovering
// running runs, or Agent.Resume, which applies the override over the
// agent's Config.Budget unless RunOptions.Budget is given. A run that is
// not paused is refused with a *ratchet.RunStatusError.
func cmdRetry(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("retry", w)
	var b ratchet.Budget
	fs.IntVar(&b.MaxSteps, "max-steps", 0, "raise the step limit to `N` (-1: unlimited)")
	fs.Float64Var(&b.MaxCostUSD, "max-cost", 0, "raise the cost limit to `USD` (-1: unlimited)")
	fs.Int64Var(&b.MaxTotalTokens, "max-tokens", 0, "raise the total token limit to `N` (-1: unlimited)")
	fs.Int64Var(&b.MaxInputTokens, "max-input-tokens", 0, "raise the input token limit to `N` (-1: unlimited)")
	fs.Int64Var(&b.MaxOutputTokens, "max-output-tokens", 0, "raise the output token limit to `N` (-1: unlimited)")
	fs.IntVar(&b.MaxToolCalls, "max-tool-calls", 0, "raise the tool call limit to `N` (-1: unlimited)")
	fs.DurationVar(&b.MaxWallTime, "max-wall-time", 0, "raise the active running time limit to `D`")
	fs.DurationVar(&b.StepTimeout, "step-timeout", 0, "raise the step timeout to `D`")
	fs.BoolVar(&b.WindDown, "wind-down", false, "ask the model for a final answer when a budget is reached")
	ops, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if err := checkBudget(fs, b); err != nil {
		return err
	}
	id := ops[0]
	var override *ratchet.Budget
	if b != (ratchet.Budget{}) {
		override = &b
	}
	st, err := ratchet.RetryRun(ctx, s, nil, id, override)
	if err != nil {
		return notFound(id, err)
	}
	if *jsonOut {
		return writeJSON(w, opResult{RunID: id, Op: "retry", Status: st.Status, Seq: st.Seq, Budget: override})
	}
	msg := fmt.Sprintf("run %s marked for resumption (record %d)", id, st.Seq)
	if override != nil {
		msg += "; budget override " + override.String()
	}
	_, err = fmt.Fprintln(w, msg+"; a process owning the agent continues it (Scheduler or Agent.Resume)")
	return err
}

// checkBudget rejects limits below Unlimited (-1) and non-positive times.
func checkBudget(fs *flag.FlagSet, b ratchet.Budget) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		switch v := f.Value.(flag.Getter).Get().(type) {
		case int:
			if v < ratchet.Unlimited || v == 0 {
				err = usagef("-%s %d: want a positive number or -1", f.Name, v)
			}
		case int64:
			if v < ratchet.Unlimited || v == 0 {
				err = usagef("-%s %d: want a positive number or -1", f.Name, v)
			}
		case float64:
			if v < ratchet.Unlimited || v == 0 {
				err = usagef("-%s %g: want a positive number or -1", f.Name, v)
			}
		case time.Duration:
			if v <= 0 {
				err = usagef("-%s %s: want a positive duration", f.Name, v)
			}
		}
	})
	return err
}
