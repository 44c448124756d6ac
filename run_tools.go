package ratchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// unknownOutcomeMessage is the result a model gets for a call whose outcome
// is unknown.
const unknownOutcomeMessage = "error: the outcome of this call is unknown: the run was interrupted while the tool was running, " +
	"and the tool is not idempotent, so it was not run again. It may or may not have taken effect; check before calling it again."

// timeoutUnknownOutcome follows the timeout message of a tool that is not
// idempotent: it may have acted, or may still act.
const timeoutUnknownOutcome = "; its outcome is unknown: it may have taken effect, or may still take effect. Check before calling it again"

// callJob is a call of the current step to run.
type callJob struct {
	i       int
	key     string
	call    ToolCall
	tool    Tool
	pol     ToolPolicy
	attempt int
}

// runCalls runs the calls of the current step that have no result, in
// parallel up to MaxParallelTools, and persists each outcome as it comes.
// It and the functions it calls on the way to a tool keep their frames
// small (rare paths are out of line): they are on the stack of every
// goroutine stepping a run, at its deepest.
func (r *Run) runCalls(ctx context.Context, st *Step) error {
	jobs := r.jobBuf[:0]
	jobs, failErr, err := r.callJobs(ctx, jobs)
	if err != nil {
		return err
	}
	var pause error // of a step's only call
	if len(jobs) == 1 {
		// One call: run it on this goroutine; there are no siblings.
		j := &jobs[0]
		recs, started := r.preCall, time.Time{}
		if recs != nil {
			started = recs.started.Time // appended with the response
		} else {
			recs = r.scratchCall(len(r.state.Calls))
		}
		r.preCall = nil
		err = r.runCall(ctx, ctx, r.dls.takeTool(), recs, started, r.state.Step, j.i, j.key, j.call, j.tool, &j.pol, j.attempt, &pause)
		*j = callJob{} // the buffer keeps no tool call alive
		if err == nil && failErr == nil && pause == nil && r.broken == nil && ctx.Err() == nil {
			return nil
		}
		return r.callsDone(ctx, err, failErr, pause, nil)
	}
	return r.runParallel(ctx, jobs, failErr)
}

// callJobs returns the calls of the current step to run, appended to jobs,
// after persisting the outcome of those that cannot run: an unknown tool
// (after a resume with a changed agent), an unknown outcome, an approval
// to ask for. failErr is the error that fails the run once the calls end.
//
//go:noinline
func (r *Run) callJobs(ctx context.Context, jobs []callJob) (_ []callJob, failErr, _ error) {
	s := &r.state
	step := s.Step
	// r.state changes under r.mu once calls run: read nothing of it below.
	// The loop reads calls[i] before any record for call i is appended,
	// and a record changes only its own call: no copy is needed.
	runID := r.ID()
	calls := s.Calls
	for i, c := range calls {
		if c.Result != nil {
			continue
		}
		ti, ok := r.a.toolIndex[c.Call.Name]
		if !ok {
			// Only possible after a resume with a changed agent.
			msg, _, _ := r.checkCall(c.Call, "")
			if err := r.appendLocked(ctx, finishRec(runID, step, i, c.Call, ToolResult{Content: msg, IsError: true, Error: string(ParseUnknownTool)})); err != nil {
				return nil, nil, err
			}
			continue
		}
		pol := r.a.policies[ti]
		attempt := c.Attempt + 1
		key := ""
		if pc := r.preCall; pc != nil && pc.call.Index == i {
			// Started with the response (appendStarting): it runs now.
			attempt, key = pc.call.Attempt, pc.call.Key
		} else if c.Started && !pol.Idempotent && pol.OnUnknownOutcome != UnknownOutcomeRerun {
			te := &ToolError{Tool: c.Call.Name, CallID: c.Call.ID, Attempt: c.Attempt, Kind: ToolErrorUnknownOutcome,
				Err: errors.New("the run stopped while the call ran")}
			res := ToolResult{Content: unknownOutcomeMessage, IsError: true, Error: string(ToolErrorUnknownOutcome)}
			if err := r.appendLocked(ctx, finishRec(runID, step, i, c.Call, res)); err != nil {
				return nil, nil, err
			}
			if pol.OnUnknownOutcome == UnknownOutcomeFail && failErr == nil {
				failErr = te
			}
			continue
		}
		if pol.NeedsApproval && !c.Approved { // (never a call started with the response)
			if err := r.appendLocked(ctx, approvalRecord(step, i, c.Call)); err != nil {
				return nil, nil, err
			}
			continue
		}
		call := c.Call
		if i < len(r.rawCalls) && r.rawCalls[i].ID == call.ID {
			call.Arguments = r.rawCalls[i].Arguments
		}
		if key == "" {
			key = idempotencyKey(runID, step, i)
		}
		jobs = append(jobs, callJob{i: i, key: key, call: call, tool: r.a.cfg.Tools[ti], pol: pol, attempt: attempt})
	}
	return jobs, failErr, nil
}

// runParallel runs jobs, more than one or none, in parallel.
//
//go:noinline
func (r *Run) runParallel(ctx context.Context, jobs []callJob, failErr error) error {
	step := r.state.Step
	pauses := make([]error, len(r.state.Calls))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.a.cfg.MaxParallelTools)
	for _, j := range jobs {
		g.Go(func() error {
			return r.runCall(ctx, gctx, nil, nil, time.Time{}, step, j.i, j.key, j.call, j.tool, &j.pol, j.attempt, &pauses[j.i])
		})
	}
	err := g.Wait()
	clear(jobs)
	return r.callsDone(ctx, err, failErr, nil, pauses)
}

// callsDone returns what a step's calls lead to: err from running them,
// failErr (an unknown outcome that fails the run), the pause of a step's
// only call, or those of calls run in parallel (by call index).
//
//go:noinline
func (r *Run) callsDone(ctx context.Context, err, failErr, pause error, pauses []error) error {
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
// and scratch where its records are; when started is not zero, the first
// attempt's tool_started (in scratch) was appended then. A pause is
// reported through *pause, not as an error, so that siblings are not
// cancelled.
func (r *Run) runCall(parent, gctx context.Context, slot *deadlineCtx, scratch *callRecs, started time.Time, step, i int, key string, c ToolCall, tool Tool, pol *ToolPolicy, attempt int, pause *error) error {
	// A call whose turn comes after the step was cancelled does not start.
	if parent.Err() != nil {
		if !started.IsZero() {
			// Its tool_started went in with the response, but it never ran.
			return r.notStarted(parent, step, i, key, &c, attempt)
		}
		return nil // left open; runCalls reports the cancellation
	}
	if gctx.Err() != nil {
		return r.callCancelled(parent, step, i, key, &c, attempt, 0)
	}
	for ; ; attempt++ {
		// The call starts when tool_started is persisted: one reading of
		// the clock for both, and one for the end and tool_finished.
		recs, start := scratch, started
		if start.IsZero() {
			if recs == nil {
				recs = new(callRecs)
			}
			recs.reset(step, i, key, &c, attempt)
			var err error
			if start, err = r.appendLockedAt(parent, r.a.cfg.Clock.Now(), &recs.started); err != nil {
				return err
			}
			if parent.Err() != nil {
				// Stopped while tool_started was persisted: it never ran.
				return r.notStarted(parent, step, i, key, &c, attempt)
			}
		}
		callCtx := gctx // the call's, and its event's
		if r.a.callObs != nil {
			callCtx = r.startToolCall(gctx, start, step, &c, key, attempt)
		}
		out, orig, err := r.invoke(callCtx, slot, r.realNow(start), step, tool, &c, key, pol.Timeout, pol.MaxOutputBytes, attempt)
		slot, scratch, started = nil, nil, time.Time{} // a retry makes its own
		end := r.a.cfg.Clock.Now()
		dur := end.Sub(start)
		if r.a.obs != nil {
			r.observeToolCall(callCtx, step, &c, key, attempt, len(out), dur, err)
		}
		if err == nil {
			recs.finish(out, orig, dur) // cut by invoke
			_, err := r.appendLockedAt(parent, end, &recs.finished)
			return err
		}
		if retry, err := r.callFailed(parent, gctx, step, i, key, &c, pol, attempt, dur, err, pause); !retry {
			return err
		}
	}
}

// notStarted records that attempt of call i, whose tool_started is in the
// log, never started because the step was stopped first: a tool_failed
// marks it not started, so that a resume runs it as usual rather than
// treating its outcome as unknown. It returns nil: runCalls reports the
// cancellation.
//
//go:noinline
func (r *Run) notStarted(ctx context.Context, step, i int, key string, c *ToolCall, attempt int) error {
	rec := &Record{Kind: RecToolFailed, Step: step, Call: callRecord(i, key, c, attempt),
		Error: &ErrorInfo{Kind: errKindNotStarted, Message: "the step was stopped before the call started"}}
	return r.appendLocked(ctx, rec)
}

// errKindNotStarted is the ErrorInfo kind of a call attempt that never
// started (see notStarted).
const errKindNotStarted = "not_started"

// callCancelled records that call i did not run, or ran no further,
// because a sibling call failed the run.
//
//go:noinline
func (r *Run) callCancelled(ctx context.Context, step, i int, key string, c *ToolCall, attempt int, dur time.Duration) error {
	res := ToolResult{Content: "error: cancelled because another tool call of this step failed", IsError: true, Error: string(ToolErrorCancelled), Duration: dur}
	return r.appendLocked(ctx, &Record{Kind: RecToolFinished, Step: step, Call: callRecord(i, key, c, attempt), Result: &res})
}

func callRecord(i int, key string, c *ToolCall, attempt int) *CallRecord {
	return &CallRecord{Index: i, ID: c.ID, Tool: c.Name, Key: key, Attempt: attempt}
}

// callFailed persists what follows a failed attempt of call i, as the
// tool's policy says, and reports whether to retry it (after the delay it
// has slept). It is out of line so that runCall's frame, on every stepping
// goroutine's stack, stays small.
//
//go:noinline
func (r *Run) callFailed(parent, gctx context.Context, step, i int, key string, c *ToolCall, pol *ToolPolicy, attempt int, dur time.Duration, err error, pause *error) (retry bool, _ error) {
	if parent.Err() != nil {
		return false, nil // left open; runCalls reports the cancellation
	}
	if rec := r.interruptRecord(err, step, i, *c, attempt); rec != nil {
		return false, r.appendLocked(parent, rec) // left open until answered
	}
	if ae, ok := errors.AsType[*ArgumentError](err); ok {
		res := ToolResult{Content: "error: " + trimPrefix(ae.Error()) + ". Fix the arguments and call the tool again.", IsError: true, Error: string(ParseArguments), Duration: dur}
		return false, r.appendLocked(parent, &Record{Kind: RecToolFinished, Step: step, Call: callRecord(i, key, c, attempt), Result: &res})
	}
	te, ok := errors.AsType[*ToolError](err)
	if !ok {
		te = &ToolError{Tool: c.Name, CallID: c.ID, Attempt: attempt, Kind: ToolErrorReturned, Err: err}
	}
	if gctx.Err() != nil {
		// A sibling failed the run and cancelled this call.
		return false, r.callCancelled(parent, step, i, key, c, attempt, dur)
	}
	action := pol.OnError
	if action == ToolErrorRetry {
		if delay, ok := pol.Retry.next(te, attempt, r.a.cfg.Random); ok {
			if err := r.appendLocked(parent, &Record{Kind: RecToolFailed, Step: step, Call: callRecord(i, key, c, attempt), Error: errorInfo(te), Delay: delay}); err != nil {
				return false, err
			}
			if err := sleep(gctx, r.a.cfg.Clock, delay); err != nil {
				if parent.Err() != nil {
					return false, nil // left open; runCalls reports the cancellation
				}
				return false, r.callCancelled(parent, step, i, key, c, attempt+1, 0)
			}
			return true, nil
		}
		action = ToolErrorReport
	}
	switch action {
	case ToolErrorPause:
		*pause = te
		return false, r.appendLocked(parent, &Record{Kind: RecToolFailed, Step: step, Call: callRecord(i, key, c, attempt), Error: errorInfo(te)})
	case ToolErrorFail:
		res := ToolResult{Content: "error: " + trimPrefix(te.Error()), IsError: true, Error: string(te.Kind), Duration: dur}
		if err := r.appendLocked(parent, &Record{Kind: RecToolFinished, Step: step, Call: callRecord(i, key, c, attempt), Result: &res}); err != nil {
			return false, err
		}
		return false, te
	default:
		text := toolErrorText(te)
		if te.Kind == ToolErrorTimeout && !pol.Idempotent {
			text += timeoutUnknownOutcome
		}
		res := ToolResult{Content: "error: " + text, IsError: true, Error: string(te.Kind), Duration: dur}
		return false, r.appendLocked(parent, &Record{Kind: RecToolFinished, Step: step, Call: callRecord(i, key, c, attempt), Result: &res})
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

// reset makes recs the records of a new attempt of call i, tool_started
// filled in. (Records are set field by field: a composite literal that
// refers to recs would be built in a temporary on the stack first.)
func (recs *callRecs) reset(step, i int, key string, c *ToolCall, attempt int) {
	*recs = callRecs{}
	recs.call.Index, recs.call.ID, recs.call.Tool, recs.call.Key, recs.call.Attempt = i, c.ID, c.Name, key, attempt
	recs.started.Kind, recs.started.Step, recs.started.Call = RecToolStarted, step, &recs.call
}

// finish fills in recs' tool_finished record for a call that returned out
// in dur, cut to max bytes (see fitOutput).
func (recs *callRecs) finish(out string, orig int, dur time.Duration) {
	recs.res.Content, recs.res.OriginalBytes = out, orig
	recs.res.Duration = dur
	recs.finished.Kind, recs.finished.Step, recs.finished.Call, recs.finished.Result = RecToolFinished, recs.started.Step, &recs.call, &recs.res
}

// startToolCall is startCall for a tool call attempt.
//
//go:noinline
func (r *Run) startToolCall(ctx context.Context, start time.Time, step int, c *ToolCall, key string, attempt int) context.Context {
	return r.startCall(ctx, Event{Kind: EventToolCall, Time: start, Step: step, Tool: c.Name, CallID: c.ID, Key: key,
		Attempt: attempt, ArgBytes: len(c.Arguments)})
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

// CallGrace is how long the runtime waits for a tool call to return once
// its context has ended (its timeout, the step's timeout, the
// caller's cancellation, a Scheduler's Stop deadline). A call that ignores
// its context and has not returned by then is abandoned: the step goes on
// without it (a tool call ends as a timeout *ToolError, or is left open
// when the step itself was stopped), its goroutine is left to finish on its
// own, and its late result is discarded and reported to the Observer
// (EventCallAbandoned). A tool that ignores its context may thus still act
// after its call was reported as timed out. (Model calls are not
// abandoned: a Model must return once its context ends.)
const CallGrace = 250 * time.Millisecond

// The states of an abandonable call (see await).
const (
	callRunning int32 = iota
	callReturned
	callAbandoned
)

// await waits for a call started in its own goroutine, which sends its
// result on res after moving state from callRunning to callReturned (and
// reports a late result itself when it finds callAbandoned). When ctx
// ends first, the call gets CallGrace to return; then it is abandoned and
// await reports false.
func await[T any](ctx context.Context, state *atomic.Int32, res <-chan T) (T, bool) {
	select {
	case v := <-res:
		return v, true
	case <-ctx.Done():
	}
	grace := time.NewTimer(CallGrace)
	defer grace.Stop()
	select {
	case v := <-res:
		return v, true
	case <-grace.C:
	}
	if state.CompareAndSwap(callRunning, callAbandoned) {
		var zero T
		return zero, false
	}
	return <-res, true // it returned just now
}

// toolReturn is what a tool call returned.
type toolReturn struct {
	out  string
	orig int // the result's size when out was cut to its limit, or 0
	err  error
}

// invoke calls the tool under its timeout (from now, a reading of
// time.Now; the context made in slot, if not nil) with the idempotency key
// in its context, recovering a panic into a *ToolError. The tool runs in
// its own goroutine, so that a tool that ignores its context cannot hold
// the step past its deadline (see CallGrace).
func (r *Run) invoke(ctx context.Context, slot *deadlineCtx, now time.Time, step int, tool Tool, c *ToolCall, key string, timeout time.Duration, limit, attempt int) (string, int, error) {
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
	call := *c
	var state atomic.Int32
	res := make(chan toolReturn, 1)
	started := time.Now()
	go func() {
		var ret toolReturn
		defer func() {
			if p := recover(); p != nil {
				ret = toolReturn{"", 0, &ToolError{Tool: call.Name, CallID: call.ID, Attempt: attempt, Kind: ToolErrorPanic,
					Stack: debug.Stack(), Err: fmt.Errorf("panic: %v", p)}}
			}
			if state.CompareAndSwap(callRunning, callReturned) {
				res <- ret
				return
			}
			if r.a.obs != nil {
				r.observe(context.WithoutCancel(ctx), Event{Kind: EventCallAbandoned, Step: step, Tool: call.Name, CallID: call.ID, Key: key,
					Attempt: attempt, ResultBytes: len(ret.out), Duration: time.Since(started), Err: ret.err})
			}
		}()
		if pv, ok := tool.(prevalidated); ok {
			// Ours: it only reads the arguments.
			ret.out, ret.orig, ret.err = pv.callValidated(cctx, stringBytes(call.Arguments), limit)
		} else {
			ret.out, ret.err = tool.Call(cctx, json.RawMessage(call.Arguments))
			ret.out, ret.orig = fitOutput(ret.out, limit)
		}
	}()
	ret, ok := await(cctx, &state, res)
	if !ok {
		if ctx.Err() != nil {
			return "", 0, context.Cause(ctx) // the step was stopped: left open
		}
		return "", 0, &ToolError{Tool: c.Name, CallID: c.ID, Attempt: attempt, Kind: ToolErrorTimeout,
			Err: fmt.Errorf("no result within %s, and none %s after it: the call was abandoned (the tool ignores its context)", timeout, CallGrace)}
	}
	out, orig, err := ret.out, ret.orig, ret.err
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		if _, ok := errors.AsType[*ToolError](err); !ok {
			err = &ToolError{Tool: c.Name, CallID: c.ID, Attempt: attempt, Kind: ToolErrorTimeout,
				Err: fmt.Errorf("no result within %s: %w", timeout, err)}
		}
	}
	return out, orig, err
}

// prevalidated is implemented by tools whose arguments the runtime has
// already validated (through argValidator) before calling. limit, when
// positive, is the result's size limit: a longer result is cut to it, with
// the truncation marker (as truncateOutput does), keeping no more of it
// than that.
type prevalidated interface {
	callValidated(ctx context.Context, args json.RawMessage, limit int) (out string, orig int, err error)
}
