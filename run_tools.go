package ratchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"
)

// unknownOutcomeMessage is the result a model gets for a call whose outcome
// is unknown.
const unknownOutcomeMessage = "error: the outcome of this call is unknown: the run was interrupted while the tool was running, " +
	"and the tool is not idempotent, so it was not run again. It may or may not have taken effect; check before calling it again."

// runCalls runs the calls of the current step that have no result, in
// parallel up to MaxParallelTools, and persists each outcome as it comes.
func (r *Run) runCalls(ctx context.Context, st *Step) error {
	s := &r.state
	step := s.Step
	// r.state changes under r.mu once calls run: read nothing of it below.
	// The loop reads calls[i] before any record for call i is appended,
	// and a record changes only its own call: no copy is needed.
	runID := r.ID()
	calls := s.Calls

	type job struct {
		i       int
		key     string
		call    ToolCall
		tool    Tool
		pol     ToolPolicy
		attempt int
	}
	var jobBuf [1]job // a step's only call, the usual case
	jobs := jobBuf[:0]
	var pause error    // of a step's only call
	var pauses []error // by call index, when calls run in parallel
	var failErr error
	for i, c := range calls {
		if c.Result != nil {
			continue
		}
		ti, ok := r.a.toolIndex[c.Call.Name]
		if !ok {
			// Only possible after a resume with a changed agent.
			msg, _, _ := r.checkCall(c.Call, "")
			if err := r.appendLocked(ctx, finishRec(runID, step, i, c.Call, ToolResult{Content: msg, IsError: true, Error: string(ParseUnknownTool)})); err != nil {
				return err
			}
			continue
		}
		pol := r.a.policies[ti]
		attempt := c.Attempt + 1
		if c.Started && !pol.Idempotent && pol.OnUnknownOutcome != UnknownOutcomeRerun {
			te := &ToolError{Tool: c.Call.Name, CallID: c.Call.ID, Attempt: c.Attempt, Kind: ToolErrorUnknownOutcome,
				Err: errors.New("the run stopped while the call ran")}
			res := ToolResult{Content: unknownOutcomeMessage, IsError: true, Error: string(ToolErrorUnknownOutcome)}
			if err := r.appendLocked(ctx, finishRec(runID, step, i, c.Call, res)); err != nil {
				return err
			}
			if pol.OnUnknownOutcome == UnknownOutcomeFail && failErr == nil {
				failErr = te
			}
			continue
		}
		if pol.NeedsApproval && !c.Approved {
			if err := r.appendLocked(ctx, approvalRecord(step, i, c.Call)); err != nil {
				return err
			}
			continue
		}
		call := c.Call
		if i < len(r.rawCalls) && r.rawCalls[i].ID == call.ID {
			call.Arguments = r.rawCalls[i].Arguments
		}
		jobs = append(jobs, job{i: i, key: idempotencyKey(runID, step, i), call: call, tool: r.a.cfg.Tools[ti], pol: pol, attempt: attempt})
	}
	var err error
	if len(jobs) == 1 {
		// One call: run it on this goroutine; there are no siblings.
		j := jobs[0]
		err = r.runCall(ctx, ctx, r.dls.takeTool(), r.scratchCall(len(calls)), step, j.i, j.key, j.call, j.tool, j.pol, j.attempt, &pause)
	} else {
		ps := make([]error, len(calls))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.a.cfg.MaxParallelTools)
		for _, j := range jobs {
			g.Go(func() error {
				return r.runCall(ctx, gctx, nil, nil, step, j.i, j.key, j.call, j.tool, j.pol, j.attempt, &ps[j.i])
			})
		}
		err = g.Wait()
		pauses = ps
	}
	if err == nil {
		err = failErr
	}
	if r.broken != nil {
		return r.broken
	}
	if ctx.Err() != nil {
		// Calls interrupted by the caller stay open: a resume reruns the
		// idempotent ones and applies OnUnknownOutcome to the others.
		return context.Cause(ctx)
	}
	if _, ok := errors.AsType[*ToolError](err); ok {
		return r.fail(ctx, err)
	}
	if err != nil {
		return err
	}
	var perr error
	if pauses != nil {
		perr = errors.Join(pauses...)
	} else if pause != nil {
		perr = errors.Join(pause) // as for many calls
	}
	if perr != nil {
		return r.pause(ctx, perr)
	}
	return nil
}

func finishRec(runID string, step, i int, c ToolCall, res ToolResult) *Record {
	return &Record{Kind: RecToolFinished, Step: step,
		Call:   &CallRecord{Index: i, ID: c.ID, Tool: c.Name, Key: idempotencyKey(runID, step, i)},
		Result: &res}
}

// runCall runs one call, with retries, and persists its outcome. parent is
// the step's context; gctx is cancelled too when a sibling fails the run.
// slot, if not nil, is where the first attempt's deadline context is made,
// and scratch where its records are. A pause is reported through *pause,
// not as an error, so that siblings are not cancelled.
func (r *Run) runCall(parent, gctx context.Context, slot *deadlineCtx, scratch *callRecs, step, i int, key string, c ToolCall, tool Tool, pol ToolPolicy, attempt int, pause *error) error {
	cr := func(attempt int) *CallRecord {
		return &CallRecord{Index: i, ID: c.ID, Tool: c.Name, Key: key, Attempt: attempt}
	}
	cancelled := func(attempt int, dur time.Duration) error {
		res := ToolResult{Content: "error: cancelled because another tool call of this step failed", IsError: true, Error: string(ToolErrorCancelled), Duration: dur}
		return r.appendLocked(parent, &Record{Kind: RecToolFinished, Step: step, Call: cr(attempt), Result: &res})
	}
	// A call whose turn comes after the step was cancelled does not start.
	if parent.Err() != nil {
		return nil // left open; runCalls reports the cancellation
	}
	if gctx.Err() != nil {
		return cancelled(attempt, 0)
	}
	for ; ; attempt++ {
		// The call starts when tool_started is persisted: one reading of
		// the clock for both, and one for the end and tool_finished.
		recs := scratch
		if recs == nil {
			recs = new(callRecs)
		}
		*recs = callRecs{call: CallRecord{Index: i, ID: c.ID, Tool: c.Name, Key: key, Attempt: attempt}}
		recs.started = Record{Kind: RecToolStarted, Step: step, Call: &recs.call}
		start, err := r.appendLockedAt(parent, r.a.cfg.Clock.Now(), &recs.started)
		if err != nil {
			return err
		}
		out, err := r.invoke(gctx, slot, r.realNow(start), tool, c, key, pol.Timeout, attempt)
		slot, scratch = nil, nil // a retry makes its own
		end := r.a.cfg.Clock.Now()
		dur := end.Sub(start)
		if r.a.obs != nil {
			r.observeToolCall(parent, step, &c, key, attempt, len(out), dur, err)
		}
		if err == nil {
			recs.res = ToolResult{Content: truncateOutput(out, pol.MaxOutputBytes), Duration: dur}
			recs.finished = Record{Kind: RecToolFinished, Step: step, Call: &recs.call, Result: &recs.res}
			_, err := r.appendLockedAt(parent, end, &recs.finished)
			return err
		}
		if parent.Err() != nil {
			return nil // left open; runCalls reports the cancellation
		}
		if rec := r.interruptRecord(err, step, i, c, attempt); rec != nil {
			return r.appendLocked(parent, rec) // left open until answered
		}
		var ae *ArgumentError
		if errors.As(err, &ae) {
			res := ToolResult{Content: "error: " + trimPrefix(ae.Error()) + ". Fix the arguments and call the tool again.", IsError: true, Error: string(ParseArguments), Duration: dur}
			return r.appendLocked(parent, &Record{Kind: RecToolFinished, Step: step, Call: cr(attempt), Result: &res})
		}
		var te *ToolError
		if !errors.As(err, &te) {
			te = &ToolError{Tool: c.Name, CallID: c.ID, Attempt: attempt, Kind: ToolErrorReturned, Err: err}
		}
		if gctx.Err() != nil {
			// A sibling failed the run and cancelled this call.
			return cancelled(attempt, dur)
		}
		action := pol.OnError
		if action == ToolErrorRetry {
			if delay, ok := pol.Retry.next(te, attempt, r.a.cfg.Random); ok {
				if err := r.appendLocked(parent, &Record{Kind: RecToolFailed, Step: step, Call: cr(attempt), Error: errorInfo(te), Delay: delay}); err != nil {
					return err
				}
				if err := sleep(gctx, r.a.cfg.Clock, delay); err != nil {
					if parent.Err() != nil {
						return nil // left open; runCalls reports the cancellation
					}
					return cancelled(attempt+1, 0)
				}
				continue
			}
			action = ToolErrorReport
		}
		switch action {
		case ToolErrorPause:
			*pause = te
			return r.appendLocked(parent, &Record{Kind: RecToolFailed, Step: step, Call: cr(attempt), Error: errorInfo(te)})
		case ToolErrorFail:
			res := ToolResult{Content: "error: " + trimPrefix(te.Error()), IsError: true, Error: string(te.Kind), Duration: dur}
			if err := r.appendLocked(parent, &Record{Kind: RecToolFinished, Step: step, Call: cr(attempt), Result: &res}); err != nil {
				return err
			}
			return te
		default:
			res := ToolResult{Content: "error: " + toolErrorText(te), IsError: true, Error: string(te.Kind), Duration: dur}
			return r.appendLocked(parent, &Record{Kind: RecToolFinished, Step: step, Call: cr(attempt), Result: &res})
		}
	}
}

// callRecs are the records of one successful call attempt, allocated
// together. Records are never modified once appended, so the two share
// their CallRecord.
type callRecs struct {
	call              CallRecord
	started, finished Record
	res               ToolResult
}

//go:noinline
func (r *Run) observeToolCall(ctx context.Context, step int, c *ToolCall, key string, attempt, resultBytes int, dur time.Duration, err error) {
	r.observe(ctx, Event{Kind: EventToolCall, Step: step, Tool: c.Name, CallID: c.ID, Key: key, Attempt: attempt,
		ArgBytes: len(c.Arguments), ResultBytes: resultBytes, Duration: dur, Err: err})
}

func toolErrorText(te *ToolError) string {
	switch te.Kind {
	case ToolErrorTimeout:
		return "the tool did not finish within its timeout"
	case ToolErrorPanic:
		return fmt.Sprintf("the tool failed unexpectedly (%v)", te.Err)
	}
	if te.Err != nil {
		return te.Err.Error()
	}
	return string(te.Kind)
}

func trimPrefix(s string) string {
	const p = "ratchet: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// invoke calls the tool under its timeout (from now, a reading of
// time.Now; the context made in slot, if not nil) with the idempotency key
// in its context, recovering a panic into a *ToolError.
func (r *Run) invoke(ctx context.Context, slot *deadlineCtx, now time.Time, tool Tool, c ToolCall, key string, timeout time.Duration, attempt int) (out string, err error) {
	var cctx context.Context
	if timeout > 0 { // Unlimited: no timeout
		if dc := withDeadline(slot, ctx, now, timeout, nil); dc != nil {
			dc.key, dc.hasKey = key, true
			cctx = dc
			defer dc.cancel()
		}
	}
	if cctx == nil {
		cctx = WithIdempotencyKey(ctx, key)
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = "", &ToolError{Tool: c.Name, CallID: c.ID, Attempt: attempt, Kind: ToolErrorPanic,
				Stack: debug.Stack(), Err: fmt.Errorf("panic: %v", p)}
		}
	}()
	if pv, ok := tool.(prevalidated); ok {
		// Ours: it only reads the arguments.
		out, err = pv.callValidated(cctx, stringBytes(c.Arguments))
	} else {
		out, err = tool.Call(cctx, json.RawMessage(c.Arguments))
	}
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		err = &ToolError{Tool: c.Name, CallID: c.ID, Attempt: attempt, Kind: ToolErrorTimeout,
			Err: fmt.Errorf("no result within %s: %w", timeout, err)}
	}
	return out, err
}

// prevalidated is implemented by tools whose arguments the runtime has
// already validated (through argValidator) before calling.
type prevalidated interface {
	callValidated(ctx context.Context, args json.RawMessage) (string, error)
}
