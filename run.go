package ratchet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Run is one execution of an Agent toward one goal. Make one with
// Agent.Start or load one with Agent.Resume, then call Step until the run
// ends (or Wait).
//
// A Run is not safe for concurrent use: one goroutine drives it (the
// Scheduler is the concurrent owner of many runs). Its State always equals
// the fold of the records it has appended to the store.
type Run struct {
	a      *Agent
	id     string // immutable copy of state.RunID, for tool goroutines
	budget Budget
	state  State

	// mu serialises appends (and state reads) while a step's tool calls
	// run in parallel.
	mu sync.Mutex
	// mark is when active time was last accounted; zero between steps.
	mark time.Time
	// broken is set when an append failed: the store may be behind.
	broken error
	// step collects the records of the step in progress.
	step *Step
	// warned has a bit per budget already warned about (observer).
	warned uint8
	// rawCalls are the tool calls of the current step as the model
	// produced them, before redaction; nil when no Redactor is set or
	// after a resume.
	rawCalls []ToolCall
	// viewBuf is reused for request messages: a Model must not retain a
	// Request after Generate returns.
	viewBuf []Message
	viewOf  viewOf
	// fence, when non-zero, is the lease token appends are fenced with
	// (set by the Scheduler that holds the run's lease, or by own).
	fence uint64
	// own is the lease the Run holds itself (Agent.Start, Agent.Resume);
	// nil for a Scheduler's runs.
	own *leaseHolder
	// stepCancel cancels the step in progress (nil between steps).
	stepCancel context.CancelCauseFunc
	// encBuf is reused for the encodings of the Run's batches (see
	// newBatch).
	encBuf []byte
	// lost is the batch whose append failed (and broke the run), for the
	// Scheduler to account its spend; nil otherwise.
	lost *batch
	// learnedLimit, when not zero, is a record size limit lower than the
	// store's that the store's ErrTooLarge taught (see recordLimit).
	learnedLimit int
	// noSnapshotUntil is the sequence before which no snapshot is tried
	// again, after a state too large for one (see appendSnapshot).
	noSnapshotUntil uint64
	// preCall, when not nil, holds the records of the step's only call,
	// whose tool_started was appended with model_responded (see
	// appendStarting); runCalls takes it.
	preCall *callRecs
}

func (a *Agent) newRun(id string, b *Budget) *Run {
	bud := a.cfg.Budget
	if b != nil {
		bud = b.withDefaults()
	}
	return &Run{a: a, id: id, budget: bud, state: State{RunID: id}}
}

// ID returns the run's ID.
func (r *Run) ID() string { return r.id }

// Status returns the run's status.
func (r *Run) Status() Status { return r.state.Status }

// Output returns the final answer of a succeeded run, "" otherwise.
func (r *Run) Output() string { return r.state.Output }

// State returns a deep copy of the run's state.
func (r *Run) State() State { return r.state.Clone() }

// Wait steps the run until it ends or stops, and returns its final output
// (at once, for a run that has already succeeded).
// It returns the error that stopped it: a *BudgetError (paused), a
// *ParseError, *ToolError or *ModelError (failed or paused), ctx's error,
// or ErrRunEnded wrapped with the failure of a run that had already failed.
func (r *Run) Wait(ctx context.Context) (_ string, err error) {
	if r.state.Status == StatusSucceeded {
		return r.state.Output, nil
	}
	defer func() {
		if rerr := r.releaseLease(ctx); rerr != nil && err == nil {
			err = rerr
		}
	}()
	for {
		st, err := r.Step(ctx)
		if err != nil {
			return "", err
		}
		if st.Status != StatusRunning {
			if st.Status == StatusSucceeded {
				return r.state.Output, nil
			}
			return "", fmt.Errorf("ratchet: run %s is %s", r.ID(), st.Status)
		}
	}
}

// Step performs exactly one step of the run, synchronously, and returns
// what happened. A step is:
//
//  1. If the previous step has tool calls without results (the run was
//     resumed mid-step, or paused), finish them and return.
//  2. Check the budgets; build the request from the state.
//  3. Call the model (with the retry policy); persist model_responded.
//  4. Validate the response; unusable output gets a repair turn.
//  5. Run the tool calls in parallel, persisting tool_started before and
//     tool_finished after each; or, for a final answer, persist
//     run_completed.
//
// Every record is appended to the store before Step returns. The returned
// error is nil when the step went as designed (including tool errors
// reported to the model and repair turns). Otherwise it says why the run
// stopped: a *BudgetError (paused), *ParseError, *ToolError or *ModelError
// (failed, or paused for retryable model errors and ToolErrorPause),
// ctx's error (the run is consistent and resumes later), ErrRunEnded for a
// run that had already ended, ErrRunBroken after a store failure.
func (r *Run) Step(ctx context.Context) (_ Step, stepErr error) {
	s := &r.state
	if r.broken != nil || (s.Status != StatusRunning && s.Status != StatusPaused) || ctx.Err() != nil {
		return r.cannotStep(ctx)
	}
	st := &Step{Number: s.Step, Records: make([]*Record, 0, 4)}
	r.step = st
	r.mark = r.a.cfg.Clock.Now()
	defer func() {
		r.step, r.mark, r.rawCalls, r.preCall = nil, time.Time{}, nil, nil
	}()
	start := r.mark
	if r.own != nil {
		if err := r.holdLease(ctx); err != nil {
			return Step{Number: s.Step, Status: s.Status}, err
		}
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		stop := r.keepLease(ctx, cancel)
		r.stepCancel = cancel
		defer func() {
			stop()
			cancel(nil)
			r.stepCancel = nil
			if r.state.Status != StatusRunning || stepErr != nil {
				// At rest, or stopped (a cancelled context, a failure):
				// free for others until the next Step.
				if err := r.releaseLease(ctx); err != nil && stepErr == nil {
					stepErr = err
				}
			}
		}()
	}
	if r.budget.StepTimeout > 0 { // Unlimited: no step timeout
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.budget.StepTimeout, errStepTimeout)
		defer cancel()
	}

	if r.a.obs != nil {
		r.observe(ctx, Event{Kind: EventStepStarted, Step: s.Step + 1, Status: s.Status})
		defer func() {
			r.observe(ctx, Event{Kind: EventStepFinished, Step: st.Number, Status: r.state.Status, Err: stepErr})
		}()
	}
	err := r.takeStep(ctx, st)
	st.Status = r.state.Status
	st.Output = r.state.Output
	if err != nil && r.broken == nil && errors.Is(err, context.DeadlineExceeded) && context.Cause(ctx) == errStepTimeout {
		err = r.stepTimedOut(ctx, st, start)
	}
	return *st, err
}

// cannotStep returns what Step returns for a run that cannot take a step:
// broken, ended, not running or paused, or with ctx already done.
func (r *Run) cannotStep(ctx context.Context) (Step, error) {
	if r.broken != nil {
		return Step{}, r.broken
	}
	s := &r.state
	st := Step{Number: s.Step, Status: s.Status}
	switch {
	case s.Status.Ended():
		err := fmt.Errorf("%w: run %s %s", ErrRunEnded, r.ID(), s.Status)
		if s.Error != nil {
			err = fmt.Errorf("%w: %s", err, s.Error.Message)
		}
		return st, err
	case s.Status != StatusRunning && s.Status != StatusPaused:
		return st, fmt.Errorf("ratchet: run %s is %s", r.ID(), s.Status)
	}
	return st, ctx.Err()
}

// stepTimedOut pauses the run whose step timeout (not the caller's
// deadline) fired, and returns the step's error.
func (r *Run) stepTimedOut(ctx context.Context, st *Step, start time.Time) error {
	be := &BudgetError{Budget: BudgetStepTime, Limit: r.budget.StepTimeout.Seconds(), Used: r.a.cfg.Clock.Now().Sub(start).Seconds()}
	if perr := r.append(ctx, &Record{Kind: RecRunPaused, Step: r.state.Step, Error: errorInfo(be)}); perr != nil {
		return perr
	}
	st.Status = r.state.Status
	return be
}

// errStepTimeout is the cause of a step's context when its timeout fires.
var errStepTimeout = fmt.Errorf("ratchet: step timeout: %w", context.DeadlineExceeded)

// takeStep is the step itself (Step's numbered list), once the step's
// context, lease and observer events are set up.
func (r *Run) takeStep(ctx context.Context, st *Step) error {
	s := &r.state
	if s.Status == StatusPaused {
		if err := stuckTooLarge(s); err != nil {
			return err // no model call: see stuckTooLarge
		}
		if be := r.budget.check(s, s.Calls == nil); be != nil {
			return be
		}
		if err := r.append(ctx, &Record{Kind: RecRunResumed, Step: s.Step}); err != nil {
			return err
		}
	}
	if s.Calls != nil {
		st.Resumed = true
		st.Response = &Response{Message: lastAssistant(s.Messages)}
		return r.runCalls(ctx, st)
	}
	if be := r.budget.check(s, true); be != nil {
		return r.overBudget(ctx, st, be)
	}
	st.Number = s.Step + 1
	resp, err := r.callModel(ctx, st, false)
	if err != nil {
		return err
	}
	return r.handleResponse(ctx, st, resp)
}

func lastAssistant(ms []Message) Message {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Role == RoleAssistant {
			return ms[i]
		}
	}
	return Message{}
}

// handleResponse persists a model response and what it leads to.
func (r *Run) handleResponse(ctx context.Context, st *Step, resp *Response) error {
	s := &r.state
	n := st.Number
	resp.Message.Role = RoleAssistant
	st.Response = resp
	st.Usage = resp.Usage
	model := resp.Model
	if model == "" {
		model = r.a.cfg.ModelName
	}
	rec := &Record{Kind: RecModelResponded, Step: n, Response: resp, Attempt: st.Attempts, CostUSD: r.a.cfg.Pricing.Cost(model, resp.Usage)}
	if r.a.cfg.Redactor != nil {
		r.rawCalls = resp.Message.ToolCalls // persisted redacted; run as produced
	}
	recs := []*Record{rec}
	var parseErr *ParseError
	calls := resp.Message.ToolCalls
	if max := r.a.cfg.Parse.MaxCallsPerResponse; len(calls) > max {
		// Unusable as a whole: persisted without its calls (they could
		// pass the record limit), and repaired.
		parseErr = &ParseError{Kind: ParseTooManyCalls, Reason: fmt.Sprintf("the response asked for %d tool calls; at most %d are allowed in one response", len(calls), max)}
		trimmed := *resp
		trimmed.Message.ToolCalls = nil
		if trimmed.Message.Content == "" {
			// Providers refuse an assistant message with neither text nor
			// calls: what the model asked for stays in history as text.
			trimmed.Message.Content = fmt.Sprintf("[%d tool calls, none run: more than %d in one response]", len(calls), max)
		}
		rec.Response = &trimmed
		rec.Repair = true
		r.rawCalls = nil
		msg := fmt.Sprintf("Your last response asked for %d tool calls at once; at most %d are allowed in one response, so none of them ran. "+
			"Ask for at most %d calls, and continue with the rest once you have their results.", len(calls), max, max)
		recs = append(recs, &Record{Kind: RecRepair, Step: n, Message: &Message{Role: RoleUser, Content: msg}})
		calls = nil
	} else if len(calls) == 0 {
		next, pe, err := r.finalAnswer(resp, n)
		if err != nil {
			return r.fail(ctx, err, recs...)
		}
		parseErr = pe
		rec.Repair = pe != nil
		recs = append(recs, next...)
	} else {
		for i, c := range calls {
			if msg, kind, cause := r.checkCall(c, resp.FinishReason); msg != "" {
				rec.Repair = true
				if parseErr == nil {
					parseErr = &ParseError{Kind: kind, Raw: c.Arguments, Reason: msg, Err: cause}
				}
				recs = append(recs, &Record{Kind: RecToolFinished, Step: n,
					Call:   &CallRecord{Index: i, ID: c.ID, Tool: c.Name, Key: idempotencyKey(r.ID(), n, i)},
					Result: &ToolResult{Content: msg, IsError: true, Error: string(kind)}})
			}
		}
	}
	if len(recs) == 1 && len(calls) == 1 && r.canStartAlone(&calls[0]) {
		// The usual step: one call, valid. Its tool_started goes in the
		// same batch as model_responded, if the budgets let it start.
		if err := r.appendStarting(ctx, rec, &calls[0]); err != nil {
			return r.notStored(ctx, st, resp, err)
		}
		if r.preCall != nil {
			return r.runCalls(ctx, st) // the checks below were made
		}
	} else if err := r.append(ctx, recs...); err != nil {
		return r.notStored(ctx, st, resp, err)
	}
	if rec.Repair {
		max := max(r.a.cfg.Parse.MaxRepairs, 0)
		if s.Repairs > max {
			parseErr.Repairs = s.Repairs - 1
			return r.fail(ctx, parseErr)
		}
	}
	if s.Calls == nil {
		return nil
	}
	// Budgets are checked again after the response: tool calls that would
	// exceed them do not start.
	pending := 0
	for _, c := range s.Calls {
		if c.Result == nil {
			pending++
		}
	}
	if be := r.callBudgets(s, pending); be != nil {
		return r.pause(ctx, be)
	}
	return r.runCalls(ctx, st)
}

// callBudgets checks the budgets after a model response, with pending
// calls about to start: calls that would exceed them do not start.
func (r *Run) callBudgets(s *State, pending int) *BudgetError {
	if be := r.budget.check(s, false); be != nil {
		return be
	}
	if lim := r.budget.MaxToolCalls; lim >= 0 && s.ToolCalls+pending > lim {
		return &BudgetError{Budget: BudgetToolCalls, Limit: float64(lim), Used: float64(s.ToolCalls + pending)}
	}
	return nil
}

// canStartAlone reports whether c, a step's only call, validated, can
// start as soon as the response is persisted: its tool does not need
// approval. (The budgets are checked by appendStarting.)
func (r *Run) canStartAlone(c *ToolCall) bool {
	ti, ok := r.a.toolIndex[c.Name]
	return ok && !r.a.policies[ti].NeedsApproval
}

// checkCall validates one requested call before anything runs. It returns
// the message for the model, the parse kind and the validation error, or ""
// when the call can run.
func (r *Run) checkCall(c ToolCall, finish FinishReason) (string, ParseKind, error) {
	i, ok := r.a.toolIndex[c.Name]
	if !ok {
		names := make([]string, len(r.a.specs))
		for j, sp := range r.a.specs {
			names[j] = sp.Name
		}
		return fmt.Sprintf("error: unknown tool %q; available tools: %s", c.Name, strings.Join(names, ", ")), ParseUnknownTool, nil
	}
	var err error
	if v := r.a.validators[i]; v != nil {
		err = v.validateArgs(stringBytes(c.Arguments))
	} else if !isBlank([]byte(c.Arguments)) && !jsonValid(c.Arguments) {
		err = &ArgumentError{Tool: c.Name, Reason: "arguments are not valid JSON"}
	}
	if err == nil {
		return "", "", nil
	}
	msg := "error: " + strings.TrimPrefix(err.Error(), "ratchet: ")
	if finish == FinishLength {
		msg += " (your output was cut off at the output token limit: make the arguments shorter)"
	}
	return msg + ". Fix the arguments and call the tool again.", ParseArguments, err
}

// finalAnswer checks a response without tool calls and returns the records
// that follow model_responded: run_completed, or a repair message.
func (r *Run) finalAnswer(resp *Response, n int) ([]*Record, *ParseError, error) {
	msg := resp.Message
	if msg.Refusal != "" || resp.FinishReason == FinishContentFilter {
		reason := msg.Refusal
		if reason == "" {
			reason = "the response was stopped by the provider's content filter"
		}
		return nil, nil, &ModelError{Kind: ModelContentFilter, Message: reason}
	}
	var pe *ParseError
	var repair string
	text := msg.Content
	switch {
	case strings.TrimSpace(text) == "":
		pe = &ParseError{Kind: ParseEmpty, Reason: "the response had neither text nor tool calls"}
		repair = "Your last response was empty: it had neither text nor tool calls. Continue the task: call a tool or give your final answer."
	case r.a.cfg.Output != nil:
		text = stripCodeFence(text)
		if err := r.a.cfg.Output.validator.Validate([]byte(text)); err != nil {
			pe = &ParseError{Kind: ParseOutput, Raw: msg.Content, Reason: err.Error()}
			repair = "Your final answer does not match the required JSON schema: " + err.Error() + ". Reply with only the corrected JSON object."
			if resp.FinishReason == FinishLength {
				repair += " Your output was cut off at the output token limit: make it shorter."
			}
		}
	}
	if pe != nil {
		return []*Record{{Kind: RecRepair, Step: n, Message: &Message{Role: RoleUser, Content: repair}}}, pe, nil
	}
	return []*Record{{Kind: RecRunCompleted, Step: n, Output: text}}, nil, nil
}

// stripCodeFence removes one Markdown code fence around s, as models
// sometimes wrap JSON answers in ```json ... ```.
func stripCodeFence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return s
	}
	t = strings.TrimSuffix(t[3:], "```")
	if nl := strings.IndexByte(t, '\n'); nl >= 0 && !strings.ContainsAny(t[:nl], "{[\"") {
		t = t[nl+1:]
	}
	return strings.TrimSpace(t)
}

// overBudget handles a budget reached before a model call: pause, or the
// wind-down turn.
func (r *Run) overBudget(ctx context.Context, st *Step, be *BudgetError) error {
	s := &r.state
	if !r.budget.WindDown || s.WoundDown {
		return r.pause(ctx, be)
	}
	msg := &Message{Role: RoleUser, Content: "You have reached this task's " + string(be.Budget) +
		" budget. Do not call any tools. Reply now with your best final answer from what you have so far."}
	if err := r.append(ctx, &Record{Kind: RecWindDown, Step: s.Step, Message: msg, Error: errorInfo(be)}); err != nil {
		return err
	}
	st.Number = s.Step + 1
	st.WindDown = true
	resp, err := r.callModel(ctx, st, true)
	if err != nil {
		return err
	}
	resp.Message.ToolCalls = nil // a wind-down answer runs no tools
	if err := r.handleResponse(ctx, st, resp); err != nil {
		return err
	}
	if s.Status == StatusRunning {
		return r.pause(ctx, be)
	}
	return nil
}
