package ratchet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ratchet-run/ratchet/store"
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
	// encBuf, encEnds and encData are reused to encode records for the
	// store: the records of a batch, where each ends in encBuf, and
	// encBuf cut at those ends.
	encBuf  []byte
	encEnds []int
	encData [][]byte
	// encArrays back encEnds and encData until a batch has more records.
	encArrays struct {
		ends [4]int
		data [4][]byte
	}
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
	// dropRecords is set by a Scheduler, which ignores the Step that Step
	// returns: its Records are not collected.
	dropRecords bool
	// next is appendAt's scratch State. After a successful append it holds
	// what state holds, so it keeps nothing else alive.
	next State
	// batch holds appendStarting's records.
	batch [2]*Record
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

// runMeta is the index entry of a run in state s.
func runMeta(s *State) store.Meta {
	return store.Meta{
		Status:      string(s.Status),
		UpdatedAt:   s.UpdatedAt,
		SnapshotSeq: s.SnapshotSeq,
		WakeAt:      s.wakeAt(),
		Totals: store.Totals{
			Steps:        int64(s.Step),
			InputTokens:  s.Usage.InputTokens,
			OutputTokens: s.Usage.OutputTokens,
			ToolCalls:    int64(s.ToolCalls),
			CostUSD:      s.CostUSD,
		},
	}
}

// append persists recs as one batch and then applies them to the state.
// Callers running tool calls in parallel hold r.mu. Appends use a context
// that is not cancelled with ctx: work that was done is saved even when the
// run is being cancelled.
func (r *Run) append(ctx context.Context, recs ...*Record) error {
	return r.appendAt(ctx, r.a.cfg.Clock.Now(), recs...)
}

// appendAt is append with the time now (from the run's Clock) read by the
// caller. Within a step, a time before the step's last append (a parallel
// call's reading taken before a sibling appended) is moved up to it, so
// that the step's record times never go back. (Records that another
// process or clock wrote, an operator's answer say, are not compared.)
func (r *Run) appendAt(ctx context.Context, now time.Time, recs ...*Record) error {
	return r.appendTry(ctx, now, 0, recs)
}

// appendTry is appendAt's try'th try (see retryTooLarge).
func (r *Run) appendTry(ctx context.Context, now time.Time, try int, recs []*Record) error {
	now, err := r.beginBatch(now)
	if err != nil {
		return err
	}
	if red := r.a.cfg.Redactor; red != nil {
		for i, rec := range recs {
			recs[i] = redactRecord(red, rec)
		}
	}
	for i, rec := range recs {
		if err := r.stage(now, i, rec); err != nil {
			if _, ok := errors.AsType[*RecordTooLargeError](err); ok && i > 0 {
				return r.afterTooLarge(ctx, err) // staging may have changed r.state's memory
			}
			return err
		}
	}
	err = r.commit(ctx, now, recs)
	if err != nil && r.retryTooLarge(err, recs, try) {
		return r.appendTry(ctx, now, try+1, recs) // the limit is lower now
	}
	return err
}

// An append is a batch: beginBatch, then stage for each record, then
// commit. Between them, r.next is the state the staged records lead to.

// beginBatch starts a batch at now (a reading of the run's Clock) and
// returns the time its records get: now, or, when now is before the
// step's last append (a parallel call's reading taken before a sibling
// appended), that append's, so that the step's record times never go
// back. (Records that another process or clock wrote, an operator's
// answer say, are not compared.)
func (r *Run) beginBatch(now time.Time) (time.Time, error) {
	if r.broken != nil {
		return now, r.broken
	}
	if !r.mark.IsZero() && now.Before(r.mark) {
		now = r.mark
	}
	// next lives in the Run, not in a frame on every stepping goroutine's
	// stack. Shallow: see the note on failure in commit.
	r.next = r.state
	r.encBuf, r.encEnds = r.encBuf[:0], r.encEnds[:0]
	if r.encBuf == nil {
		// Room for a step's records, which are encoded in this buffer one
		// batch at a time. (The buffers are reused: a Store does not
		// retain them.)
		r.encBuf = make([]byte, 0, 1024)
		r.encEnds, r.encData = r.encArrays.ends[:0], r.encArrays.data[:0]
	}
	return now, nil
}

// stage encodes rec, the batch's record i, at now, and applies it to
// r.next.
func (r *Run) stage(now time.Time, i int, rec *Record) error {
	rec.Version = FormatVersion
	rec.Time = now
	rec.Seq = r.state.Seq + uint64(i) + 1
	if i == 0 && !r.mark.IsZero() {
		rec.Active = now.Sub(r.mark)
	}
	buf, err := appendEncodedRecord(r.encBuf, rec)
	if err != nil {
		return fmt.Errorf("ratchet: run %s: encode %s: %w", r.ID(), rec.Kind, err)
	}
	if size := len(buf) - len(r.encBuf); size > r.recordLimit() {
		if buf, err = r.fitRecord(rec, r.encBuf, size); err != nil {
			return err
		}
	}
	r.encBuf, r.encEnds = buf, append(r.encEnds, len(buf))
	if err := r.next.Apply(rec); err != nil {
		return fmt.Errorf("ratchet: run %s: %w", r.ID(), err)
	}
	return nil
}

// commit persists the staged records, recs, as one batch and makes r.next
// the run's state.
func (r *Run) commit(ctx context.Context, now time.Time, recs []*Record) error {
	before := r.state.Status
	data, start := r.encData[:0], 0
	for _, end := range r.encEnds {
		data = append(data, r.encBuf[start:end:end])
		start = end
	}
	r.encData = data
	err := r.a.cfg.Store.Append(context.WithoutCancel(ctx), store.Batch{
		RunID:    r.ID(),
		Expected: r.state.Seq,
		Records:  data,
		Meta:     runMeta(&r.next),
		Fence:    r.fence,
	})
	if err != nil && errors.Is(err, store.ErrTooLarge) {
		return r.afterTooLarge(ctx, &RecordTooLargeError{Kind: recs[0].Kind, Size: maxLen(data), Err: err})
	}
	if err != nil && errors.Is(err, store.ErrConflict) && r.fence != 0 && onlyResults(recs) {
		// Another writer appended (an operator's cancel, say) while this
		// Run, still holding the lease, ran calls: their results go in
		// after what it wrote, so that no finished call looks unknown.
		err = r.mergeResults(ctx, recs)
	}
	if err != nil {
		// next may share slices with r.state, so the in-memory state is no
		// longer trusted: the run must be loaded again.
		r.broken = fmt.Errorf("%w: run %s: %w", ErrRunBroken, r.ID(), err)
		return r.broken
	}
	r.state = r.next
	if !r.mark.IsZero() {
		r.mark = now
	}
	if r.a.obs != nil {
		r.observeCheckpoint(ctx, now, before, len(recs))
	}
	if r.step != nil {
		r.step.Records = append(r.step.Records, recs...)
	}
	// Snapshots are taken between steps' calls, never while a step's calls
	// are open: a response with many calls would copy them all each time.
	if r.state.Seq-r.state.SnapshotSeq >= uint64(r.a.cfg.SnapshotEvery) && r.state.Calls == nil &&
		r.state.Seq >= r.noSnapshotUntil && recs[len(recs)-1].Kind != RecSnapshot {
		return r.appendSnapshot(ctx)
	}
	return nil
}

// onlyResults reports whether recs are tool results only.
func onlyResults(recs []*Record) bool {
	for _, rec := range recs {
		if rec.Kind != RecToolFinished {
			return false
		}
	}
	return true
}

// mergeResults appends recs, tool results whose append found that another
// writer had appended first (store.ErrConflict), after what that writer
// appended, if this Run still holds the run's lease: operators' verbs
// (CancelRun, RetryRun, AnswerRun) append without the lease, and must not
// make a finished call of the lease holder look unknown. On success r.next
// is the state after them (loaded from the store), and a run that the
// other writer ended has its step cancelled. It returns store.ErrConflict
// when the lease was lost or the results no longer apply.
func (r *Run) mergeResults(ctx context.Context, recs []*Record) error {
	st := r.a.cfg.Store
	ctx = context.WithoutCancel(ctx)
	var err error
	for range ExternalAppendAttempts {
		info, gerr := st.Get(ctx, r.ID())
		if gerr != nil {
			return gerr
		}
		if info.Lease.Owner == "" || info.Lease.Token != r.fence {
			return fmt.Errorf("%w: the lease was lost", store.ErrConflict)
		}
		next, lerr := LoadState(ctx, st, r.ID())
		if lerr != nil {
			return lerr
		}
		data := make([][]byte, len(recs))
		for i, rec := range recs {
			rec.Seq = next.Seq + 1
			if aerr := next.Apply(rec); aerr != nil {
				return fmt.Errorf("%w: %w", store.ErrConflict, aerr)
			}
			if data[i], err = appendEncodedRecord(nil, rec); err != nil {
				return err
			}
		}
		err = st.Append(ctx, store.Batch{RunID: r.ID(), Expected: next.Seq - uint64(len(recs)), Records: data, Meta: runMeta(&next), Fence: r.fence})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		r.next = next
		if next.Status != StatusRunning && r.stepCancel != nil {
			r.stepCancel(fmt.Errorf("ratchet: run %s is %s", r.ID(), next.Status))
		}
		return nil
	}
	return err
}

// appendSnapshot appends a snapshot of the state, bounded in size (see
// SnapshotMaxBytes), between steps (out of line: see the observe* helpers).
func (r *Run) appendSnapshot(ctx context.Context) error {
	rec := r.snapshotRecord()
	if rec == nil {
		r.noSnapshotUntil = r.state.Seq + uint64(r.a.cfg.SnapshotEvery)
		return nil
	}
	return r.appendQuiet(ctx, rec)
}

// The observe* helpers build observer events out of line, so that the
// frames of the step loop (on the stack of every run being stepped) do not
// hold Event values.

func (r *Run) observeCheckpoint(ctx context.Context, now time.Time, before Status, records int) {
	s := &r.state
	r.observe(ctx, Event{Kind: EventCheckpoint, Time: now, Step: s.Step, Status: s.Status, Seq: s.Seq, Records: records})
	r.statusEvent(ctx, before, s.Status)
	r.budgetWarnings(ctx)
}

func (r *Run) observeStep(ctx context.Context, kind EventKind, step int, err error) {
	r.observe(ctx, Event{Kind: kind, Step: step, Status: r.state.Status, Err: err})
}

// appendQuiet appends without adding to the current Step's records.
func (r *Run) appendQuiet(ctx context.Context, recs ...*Record) error {
	st := r.step
	r.step = nil
	defer func() { r.step = st }()
	return r.append(ctx, recs...)
}

func (r *Run) appendLocked(ctx context.Context, recs ...*Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.append(ctx, recs...)
}

// appendLockedAt is appendAt under r.mu; it returns the time the record
// was given (the state's last update).
func (r *Run) appendLockedAt(ctx context.Context, now time.Time, rec *Record) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.appendAt(ctx, now, rec)
	return r.state.UpdatedAt, err
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
	st := &Step{Number: s.Step}
	if !r.dropRecords {
		st.Records = make([]*Record, 0, 4)
		r.step = st
	}
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
		r.observeStep(ctx, EventStepStarted, s.Step+1, nil)
		defer func() { r.observeStep(ctx, EventStepFinished, st.Number, stepErr) }()
	}
	err := r.step1(ctx, st)
	st.Status = r.state.Status
	st.Output = r.state.Output
	if err != nil && r.broken == nil && errors.Is(err, context.DeadlineExceeded) && context.Cause(ctx) == errStepTimeout {
		err = r.stepTimedOut(ctx, st, start)
	}
	return *st, err
}

// cannotStep returns what Step returns for a run that cannot take a step:
// broken, ended, not running or paused, or with ctx already done. (Out of
// line, so that Step's frame, under every model call, stays small.)
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

func (r *Run) step1(ctx context.Context, st *Step) error {
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

// appendStarting appends rec, the model_responded record of a step whose
// only call, c, can start (canStartAlone), and in the same batch that
// call's tool_started when the budgets let it start (then r.preCall holds
// its records; the call started at its tool_started's time). One batch, not two: the response
// and the start are persisted before the call runs either way, and a
// crash finds both or neither.
func (r *Run) appendStarting(ctx context.Context, rec *Record, c *ToolCall) error {
	now, err := r.beginBatch(r.a.cfg.Clock.Now())
	if err != nil {
		return err
	}
	recs := r.batch[:1]
	recs[0] = rec
	if red := r.a.cfg.Redactor; red != nil {
		recs[0] = redactRecord(red, rec)
	}
	if err := r.stage(now, 0, recs[0]); err != nil {
		return err
	}
	if ctx.Err() == nil && r.callBudgets(&r.next, 1) == nil {
		pc := new(callRecs)
		step := r.next.Step
		pc.reset(&callJob{step: step, key: idempotencyKey(r.ID(), step, 0), call: *c, attempt: 1})
		recs = append(recs, &pc.started) // a tool_started has nothing to redact
		if err := r.stage(now, 1, &pc.started); err != nil {
			return err
		}
		r.preCall = pc
	}
	err = r.commit(ctx, now, recs)
	clear(r.batch[:])
	if err != nil {
		r.preCall = nil
	}
	return err
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

// fail appends recs and run_failed for err, and returns err.
func (r *Run) fail(ctx context.Context, err error, recs ...*Record) error {
	recs = append(recs, &Record{Kind: RecRunFailed, Step: r.state.Step, Error: errorInfo(err)})
	if aerr := r.append(ctx, recs...); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}

// pause appends run_paused for err, and returns err.
func (r *Run) pause(ctx context.Context, err error) error {
	if aerr := r.append(ctx, &Record{Kind: RecRunPaused, Step: r.state.Step, Error: errorInfo(err)}); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
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
