package ratchet

import (
	"cmp"
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

// callJob is one call of the current step to run, with its attempt.
type callJob struct {
	step, i int
	key     string
	call    ToolCall // as the model produced it (before redaction)
	tool    Tool
	pol     *ToolPolicy
	attempt int
	// started holds the first attempt's records when its tool_started was
	// appended with the response (appendStarting); nil otherwise.
	started *callRecs
	// pause is set when the call's policy pauses the run (ToolErrorPause);
	// it is not an error of the call, so that siblings are not cancelled.
	pause error
}

func (j *callJob) record() *CallRecord {
	return &CallRecord{Index: j.i, ID: j.call.ID, Tool: j.call.Name, Key: j.key, Attempt: j.attempt}
}

// runCalls runs the calls of the current step that have no result, in
// parallel up to MaxParallelTools, and persists each outcome as it comes.
func (r *Run) runCalls(ctx context.Context, st *Step) error {
	jobs, failErr, err := r.callJobs(ctx)
	if err != nil {
		return err
	}
	if len(jobs) == 1 {
		// One call: no siblings to cancel.
		err = r.runCall(ctx, ctx, jobs[0])
	} else {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.a.cfg.MaxParallelTools)
		for _, j := range jobs {
			g.Go(func() error { return r.runCall(ctx, gctx, j) })
		}
		err = g.Wait()
	}
	return r.callsDone(ctx, cmp.Or(err, failErr), jobs)
}

// callJobs returns the calls of the current step to run, after persisting
// the outcome of those that cannot run: an unknown tool (after a resume
// with a changed agent), an unknown outcome, an approval to ask for.
// failErr is the error that fails the run once the calls end.
func (r *Run) callJobs(ctx context.Context) (jobs []*callJob, failErr, _ error) {
	s := &r.state
	step := s.Step
	pre := r.preCall
	r.preCall = nil
	// r.state changes under r.mu once calls run: read nothing of it below.
	// The loop reads calls[i] before any record for call i is appended,
	// and a record changes only its own call: no copy is needed.
	runID := r.ID()
	for i, c := range s.Calls {
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
		pol := &r.a.policies[ti]
		j := &callJob{step: step, i: i, key: idempotencyKey(runID, step, i), call: c.Call, tool: r.a.cfg.Tools[ti], pol: pol, attempt: c.Attempt + 1}
		switch {
		case pre != nil && pre.call.Index == i:
			// Started with the response (appendStarting): it runs now.
			j.attempt, j.key, j.started = pre.call.Attempt, pre.call.Key, pre
		case c.Started && !pol.Idempotent && pol.OnUnknownOutcome != UnknownOutcomeRerun:
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
		case pol.NeedsApproval && !c.Approved:
			if err := r.appendLocked(ctx, approvalRecord(step, i, c.Call)); err != nil {
				return nil, nil, err
			}
			continue
		}
		if i < len(r.rawCalls) && r.rawCalls[i].ID == j.call.ID {
			j.call.Arguments = r.rawCalls[i].Arguments
		}
		jobs = append(jobs, j)
	}
	return jobs, failErr, nil
}

// callsDone returns what a step's calls lead to: err from running them (or
// an unknown outcome that fails the run), or the pauses their policies
// asked for.
func (r *Run) callsDone(ctx context.Context, err error, jobs []*callJob) error {
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
	var pauses []error
	for _, j := range jobs {
		pauses = append(pauses, j.pause)
	}
	if perr := errors.Join(pauses...); perr != nil {
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
func (r *Run) runCall(parent, gctx context.Context, j *callJob) error {
	// A call whose turn comes after the step was cancelled does not start.
	if parent.Err() != nil {
		if j.started != nil {
			// Its tool_started went in with the response, but it never ran.
			return r.notStarted(parent, j)
		}
		return nil // left open; runCalls reports the cancellation
	}
	if gctx.Err() != nil {
		return r.callCancelled(parent, j, 0)
	}
	for ; ; j.attempt++ {
		// The call starts when tool_started is persisted: one reading of
		// the clock for both, and one for the end and tool_finished.
		recs := j.started
		j.started = nil // a retry makes its own
		var start time.Time
		if recs != nil {
			start = recs.started.Time
		} else {
			recs = new(callRecs)
			recs.reset(j)
			var err error
			if start, err = r.appendLockedAt(parent, r.a.cfg.Clock.Now(), &recs.started); err != nil {
				return err
			}
			if parent.Err() != nil {
				// Stopped while tool_started was persisted: it never ran.
				return r.notStarted(parent, j)
			}
		}
		callCtx := gctx // the call's, and its event's
		if r.a.callObs != nil {
			callCtx = r.startCall(gctx, Event{Kind: EventToolCall, Time: start, Step: j.step, Tool: j.call.Name, CallID: j.call.ID,
				Key: j.key, Attempt: j.attempt, ArgBytes: len(j.call.Arguments)})
		}
		out, orig, err := r.invoke(callCtx, j)
		end := r.a.cfg.Clock.Now()
		dur := end.Sub(start)
		if r.a.obs != nil {
			r.observe(callCtx, Event{Kind: EventToolCall, Step: j.step, Tool: j.call.Name, CallID: j.call.ID, Key: j.key, Attempt: j.attempt,
				ArgBytes: len(j.call.Arguments), ResultBytes: len(out), Duration: dur, Err: err})
		}
		if err == nil {
			recs.finish(out, orig, dur)
			_, err := r.appendLockedAt(parent, end, &recs.finished)
			return err
		}
		if retry, err := r.callFailed(parent, gctx, j, dur, err); !retry {
			return err
		}
	}
}

// notStarted records that j's attempt, whose tool_started is in the log,
// never started because the step was stopped first: a tool_failed marks it
// not started, so that a resume runs it as usual rather than treating its
// outcome as unknown. It returns nil: runCalls reports the cancellation.
func (r *Run) notStarted(ctx context.Context, j *callJob) error {
	return r.appendLocked(ctx, &Record{Kind: RecToolFailed, Step: j.step, Call: j.record(),
		Error: &ErrorInfo{Kind: errKindNotStarted, Message: "the step was stopped before the call started"}})
}

// errKindNotStarted is the ErrorInfo kind of a call attempt that never
// started (see notStarted).
const errKindNotStarted = "not_started"

// callCancelled records that j did not run, or ran no further, because a
// sibling call failed the run.
func (r *Run) callCancelled(ctx context.Context, j *callJob, dur time.Duration) error {
	res := ToolResult{Content: "error: cancelled because another tool call of this step failed", IsError: true, Error: string(ToolErrorCancelled), Duration: dur}
	return r.appendLocked(ctx, &Record{Kind: RecToolFinished, Step: j.step, Call: j.record(), Result: &res})
}

// callFailed persists what follows a failed attempt of j, as the tool's
// policy says, and reports whether to retry it (after the delay it has
// slept).
func (r *Run) callFailed(parent, gctx context.Context, j *callJob, dur time.Duration, err error) (retry bool, _ error) {
	if parent.Err() != nil {
		return false, nil // left open; runCalls reports the cancellation
	}
	if rec := r.interruptRecord(err, j.step, j.i, j.call, j.attempt); rec != nil {
		return false, r.appendLocked(parent, rec) // left open until answered
	}
	finished := func(content string, kind string) error {
		res := ToolResult{Content: content, IsError: true, Error: kind, Duration: dur}
		return r.appendLocked(parent, &Record{Kind: RecToolFinished, Step: j.step, Call: j.record(), Result: &res})
	}
	if ae, ok := errors.AsType[*ArgumentError](err); ok {
		return false, finished("error: "+trimPrefix(ae.Error())+". Fix the arguments and call the tool again.", string(ParseArguments))
	}
	te, ok := errors.AsType[*ToolError](err)
	if !ok {
		te = &ToolError{Tool: j.call.Name, CallID: j.call.ID, Attempt: j.attempt, Kind: ToolErrorReturned, Err: err}
	}
	if gctx.Err() != nil {
		// A sibling failed the run and cancelled this call.
		return false, r.callCancelled(parent, j, dur)
	}
	action := j.pol.OnError
	if action == ToolErrorRetry {
		if delay, ok := j.pol.Retry.next(te, j.attempt, r.a.cfg.Random); ok {
			if err := r.appendLocked(parent, &Record{Kind: RecToolFailed, Step: j.step, Call: j.record(), Error: errorInfo(te), Delay: delay}); err != nil {
				return false, err
			}
			if err := sleep(gctx, r.a.cfg.Clock, delay); err != nil {
				if parent.Err() != nil {
					return false, nil // left open; runCalls reports the cancellation
				}
				j.attempt++
				return false, r.callCancelled(parent, j, 0)
			}
			return true, nil
		}
		action = ToolErrorReport
	}
	switch action {
	case ToolErrorPause:
		j.pause = te
		return false, r.appendLocked(parent, &Record{Kind: RecToolFailed, Step: j.step, Call: j.record(), Error: errorInfo(te)})
	case ToolErrorFail:
		if err := finished("error: "+trimPrefix(te.Error()), string(te.Kind)); err != nil {
			return false, err
		}
		return false, te
	default:
		text := toolErrorText(te)
		if te.Kind == ToolErrorTimeout && !j.pol.Idempotent {
			text += timeoutUnknownOutcome
		}
		return false, finished("error: "+text, string(te.Kind))
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

// reset makes recs the records of j's attempt, tool_started filled in.
func (recs *callRecs) reset(j *callJob) {
	*recs = callRecs{}
	recs.call = *j.record()
	recs.started = Record{Kind: RecToolStarted, Step: j.step, Call: &recs.call}
}

// finish fills in recs' tool_finished record for a call that returned out
// in dur, cut to max bytes (see fitOutput).
func (recs *callRecs) finish(out string, orig int, dur time.Duration) {
	recs.res.Content, recs.res.OriginalBytes = out, orig
	recs.res.Duration = dur
	recs.finished.Kind, recs.finished.Step, recs.finished.Call, recs.finished.Result = RecToolFinished, recs.started.Step, &recs.call, &recs.res
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
func await(ctx context.Context, state *atomic.Int32, res <-chan toolReturn) (toolReturn, bool) {
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
		return toolReturn{}, false
	}
	return <-res, true // it returned just now
}

// toolReturn is what a tool call returned.
type toolReturn struct {
	out  string
	orig int // the result's size when out was cut to its limit, or 0
	err  error
}

// invoke calls j's tool under its timeout with the idempotency key in its
// context, recovering a panic into a *ToolError, and returns its output
// cut to the tool's limit (and the size it was cut from). The tool runs in
// its own goroutine, so that a tool that ignores its context cannot hold
// the step past its deadline (see CallGrace).
func (r *Run) invoke(ctx context.Context, j *callJob) (string, int, error) {
	cctx := WithIdempotencyKey(ctx, j.key)
	if j.pol.Timeout > 0 { // Unlimited: no timeout
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(cctx, j.pol.Timeout)
		defer cancel()
	}
	call, step, key, attempt, limit := j.call, j.step, j.key, j.attempt, j.pol.MaxOutputBytes
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
		if pv, ok := j.tool.(prevalidated); ok {
			// Ours: it only reads the arguments.
			ret.out, ret.orig, ret.err = pv.callValidated(cctx, stringBytes(call.Arguments), limit)
		} else {
			ret.out, ret.err = j.tool.Call(cctx, json.RawMessage(call.Arguments))
			ret.out, ret.orig = fitOutput(ret.out, limit)
		}
	}()
	ret, ok := await(cctx, &state, res)
	if !ok {
		if ctx.Err() != nil {
			return "", 0, context.Cause(ctx) // the step was stopped: left open
		}
		return "", 0, &ToolError{Tool: call.Name, CallID: call.ID, Attempt: attempt, Kind: ToolErrorTimeout,
			Err: fmt.Errorf("no result within %s, and none %s after it: the call was abandoned (the tool ignores its context)", j.pol.Timeout, CallGrace)}
	}
	if ret.err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		if _, ok := errors.AsType[*ToolError](ret.err); !ok {
			ret.err = &ToolError{Tool: call.Name, CallID: call.ID, Attempt: attempt, Kind: ToolErrorTimeout,
				Err: fmt.Errorf("no result within %s: %w", j.pol.Timeout, ret.err)}
		}
	}
	return ret.out, ret.orig, ret.err
}

// prevalidated is implemented by tools whose arguments the runtime has
// already validated (through argValidator) before calling. limit, when
// positive, is the result's size limit: a longer result is cut to it, with
// the truncation marker (as truncateOutput does), keeping no more of it
// than that.
type prevalidated interface {
	callValidated(ctx context.Context, args json.RawMessage, limit int) (out string, orig int, err error)
}
