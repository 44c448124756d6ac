package ratchet

import (
	"context"
	"time"
)

// Observer receives one Event for everything a run does: starts, resumes,
// suspensions and ends; every step; every model call attempt; every tool
// call; every checkpoint; budget warnings. Adapters turn events into logs
// (NewSlogObserver) or traces (package ratchetotel).
//
// Observe is called synchronously from the step loop (and from tool
// goroutines), so it must be safe for concurrent use and should return
// quickly. It must not retain e's Err beyond the call if it is large. With
// no Observer configured the step loop builds no events at all.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// A CallObserver is an Observer that also sees each model call and tool
// call attempt begin, and gives the call its context. Just before the
// call, the run calls StartCall with the context the call would run with
// and an Event of Kind EventModelCall or EventToolCall holding what is
// known then: Time (the start), RunID, Agent, Step and Attempt, with Status
// and Model (the configured name) for a model call and Tool, CallID, Key
// and ArgBytes for a tool call. The call runs with the context StartCall
// returns, which must be ctx or a context derived from it, and the call's
// own Event, when it ends, goes to Observe with that same context.
//
// A tracer implements it to open a call's span before the call, so that
// the spans the model client or the tool makes nest under it (package
// ratchetotel does). StartCall is called from the step loop and from tool
// goroutines: like Observe, it must be safe for concurrent use and quick.
type CallObserver interface {
	Observer
	StartCall(ctx context.Context, e Event) context.Context
}

// EventKind names the kind of an Event.
type EventKind string

// The event kinds.
const (
	EventRunStarted    EventKind = "run_started"
	EventRunResumed    EventKind = "run_resumed"    // loaded from the store by Agent.Resume
	EventRunSuspended  EventKind = "run_suspended"  // paused, waiting or sleeping
	EventRunEnded      EventKind = "run_ended"      // succeeded, failed or cancelled
	EventStepStarted   EventKind = "step_started"   // Run.Step began
	EventStepFinished  EventKind = "step_finished"  // Run.Step returned; Err is its error
	EventModelCall     EventKind = "model_call"     // one model call attempt ended
	EventToolCall      EventKind = "tool_call"      // one tool call attempt ended
	EventCheckpoint    EventKind = "checkpoint"     // records were appended to the store
	EventBudgetWarning EventKind = "budget_warning" // a budget passed 80% of its limit
	// EventCallAbandoned: a tool call that the runtime abandoned after its
	// deadline (see CallGrace) returned late; its result (Err,
	// ResultBytes) was discarded. Duration is how long it ran.
	EventCallAbandoned EventKind = "call_abandoned"
)

// Event is one thing that happened in a run. Only the fields that belong to
// its Kind are set. With a Redactor, the texts a model, a tool or a server
// may have written (Err, Model, Tool, CallID) are passed through it.
type Event struct {
	Kind   EventKind
	Time   time.Time
	RunID  string
	Agent  string
	Step   int
	Status Status

	// Model calls.
	Model      string
	Attempt    int
	Latency    time.Duration
	Usage      Usage
	CostUSD    float64
	RetryDelay time.Duration
	Finish     FinishReason

	// Tool calls.
	Tool        string
	CallID      string
	Key         string
	ArgBytes    int
	ResultBytes int
	Duration    time.Duration

	// Checkpoints.
	Seq     uint64
	Records int

	// Budget warnings.
	Budget      BudgetKind
	Limit, Used float64

	// Err is the failure, if any (a redacted view when a Redactor is set).
	Err error
}

// DiscardObserver returns an Observer that ignores every event.
func DiscardObserver() Observer { return discard{} }

type discard struct{}

func (discard) Observe(context.Context, Event) {}

// MultiObserver returns an Observer that passes each event to every one of
// observers, in order. Nil observers are skipped. When some of them are
// CallObservers, so is the result: its StartCall passes the context
// through each of theirs, in order.
func MultiObserver(observers ...Observer) Observer {
	var m multi
	calls := false
	for _, o := range observers {
		if o != nil {
			m = append(m, o)
			_, ok := o.(CallObserver)
			calls = calls || ok
		}
	}
	if calls {
		return multiCall{m}
	}
	return m
}

type multi []Observer

func (m multi) Observe(ctx context.Context, e Event) {
	for _, o := range m {
		o.Observe(ctx, e)
	}
}

// multiCall is a multi with a CallObserver among its observers.
type multiCall struct{ multi }

func (m multiCall) StartCall(ctx context.Context, e Event) context.Context {
	for _, o := range m.multi {
		if co, ok := o.(CallObserver); ok {
			ctx = co.StartCall(ctx, e)
		}
	}
	return ctx
}

// Redactor rewrites text before the runtime persists, logs or traces it,
// to keep secrets out of stores, logs and traces. It must be safe for
// concurrent use, and should be idempotent (Redact(Redact(s)) ==
// Redact(s)): some text passes through it twice, an event sent through a
// Scheduler's inbox or the State of a snapshot.
//
// What passes through it, set as Config.Redactor:
//
//   - Every text of every record a run appends, of every kind: input and
//     assistant messages (content, refusals, tool call IDs, tool names and
//     arguments), the model name a provider reports, tool results, repair
//     and wind-down messages, history summaries, final outputs, error
//     messages (model failures, tool errors, pauses, failures), interrupts
//     (the tool's arguments, the prompt, the answer schema and default,
//     the event waited for), answers (the value and the reason), events
//     (name and data), and the State of snapshots.
//   - The labels of RunOptions.Labels, in the run_started record and in
//     the store's index: their values are redacted, their keys are not.
//     Keys are names the application writes in its code and queries by,
//     the runtime's own labels among them (InboxLabel, LabelPeriodic), and
//     two keys redacted into one would lose a label; a value is data.
//   - The input and label values of a PeriodicSpec, in the schedule's log,
//     when its agent has a Redactor.
//   - Through a Scheduler with the run's agent registered: the events of
//     Scheduler.Send, before they are stored in the run's log or its inbox,
//     and the answers of Scheduler.Answer (after they are checked against
//     the question's schema, which sees them as given).
//   - Observer events, and so the slog observer and package ratchetotel:
//     error texts (Event.Err is a redacted view that unwraps to the
//     original), the model name, tool names and tool call IDs.
//
// What it does not cover:
//
//   - Identifiers and classifications that the runtime makes or matches
//     on, and that hold no text of a model, a tool or a server: record
//     kinds, roles, statuses, finish reasons, error and result kinds, the
//     run ID, the agent name, idempotency keys and interrupt IDs.
//   - Records appended without an Agent: CancelRun's reason, AnswerRun's
//     answer and RetryRun (and so the ratchet CLI's cancel, answer and
//     retry) persist what the operator gave, as given. Use
//     Scheduler.Answer to have an answer redacted.
//   - Text the application writes to the store itself, the errors Step
//     and Wait return to it, and what its own tools, models and loggers
//     do with the text they are given.
//
// The State is the fold of the persisted records, so the run itself
// continues with the redacted text: a tool still receives the model's raw
// arguments in the step that produced them, but after a resume it gets the
// redacted ones.
type Redactor interface {
	Redact(s string) string
}

// RedactFunc adapts a function to a Redactor.
type RedactFunc func(string) string

// Redact calls f(s).
func (f RedactFunc) Redact(s string) string { return f(s) }

// redactedError shows a redacted message and unwraps to the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// eventErr returns err as events carry it.
func (a *Agent) eventErr(err error) error {
	if err == nil || a.cfg.Redactor == nil {
		return err
	}
	return &redactedError{msg: a.cfg.Redactor.Redact(err.Error()), err: err}
}

// redactEvent passes the texts of e that a model, a tool or a server may
// have written through the agent's Redactor: its error, model name, tool
// name and call ID.
func (a *Agent) redactEvent(e *Event) {
	red := a.cfg.Redactor
	if red == nil {
		return
	}
	e.Err = a.eventErr(e.Err)
	e.Model = red.Redact(e.Model)
	e.Tool = red.Redact(e.Tool)
	e.CallID = red.Redact(e.CallID)
}

// observe sends e, stamped with the run's identity, when an Observer is set.
// Callers check r.a.obs != nil first so that no Event is built otherwise.
func (r *Run) observe(ctx context.Context, e Event) {
	e.RunID = r.id
	e.Agent = r.a.cfg.Name
	if e.Time.IsZero() {
		e.Time = r.a.cfg.Clock.Now()
	}
	r.a.redactEvent(&e)
	r.a.obs.Observe(ctx, e)
}

// startCall gives the agent's CallObserver e, a call about to start, and
// returns the context the call runs with. It reads nothing of the run's
// state: tool calls start from goroutines of their own while siblings
// append.
func (r *Run) startCall(ctx context.Context, e Event) context.Context {
	e.RunID = r.id
	e.Agent = r.a.cfg.Name
	r.a.redactEvent(&e)
	return r.a.callObs.StartCall(ctx, e)
}

// statusEvent reports a change of status between before and after.
func (r *Run) statusEvent(ctx context.Context, before, after Status) {
	if before == after {
		return
	}
	var kind EventKind
	switch after {
	case StatusPaused, StatusWaiting, StatusSleeping:
		kind = EventRunSuspended
	case StatusSucceeded, StatusFailed, StatusCancelled:
		kind = EventRunEnded
	default:
		return
	}
	var err error
	if r.state.Error != nil {
		e := *r.state.Error
		err = &e
	}
	r.observe(ctx, Event{Kind: kind, Step: r.state.Step, Status: after, Err: err})
}

// budgetWarnings emits one warning per budget, per loaded Run, when its
// use passes 80% of the limit.
func (r *Run) budgetWarnings(ctx context.Context) {
	s := &r.state
	if s.Status.Ended() {
		return
	}
	b := &r.budget
	check := func(bit uint, kind BudgetKind, limit, used float64) {
		if limit <= 0 || r.warned&(1<<bit) != 0 || used < 0.8*limit {
			return
		}
		r.warned |= 1 << bit
		r.observe(ctx, Event{Kind: EventBudgetWarning, Step: s.Step, Status: s.Status, Budget: kind, Limit: limit, Used: used})
	}
	check(0, BudgetSteps, float64(b.MaxSteps), float64(s.Step))
	check(1, BudgetWallTime, b.MaxWallTime.Seconds(), s.Active.Seconds())
	check(2, BudgetInputTokens, float64(b.MaxInputTokens), float64(s.Usage.InputTokens))
	check(3, BudgetOutputTokens, float64(b.MaxOutputTokens), float64(s.Usage.OutputTokens))
	check(4, BudgetTotalTokens, float64(b.MaxTotalTokens), float64(s.Usage.Total()))
	check(5, BudgetCost, b.MaxCostUSD, s.CostUSD)
	check(6, BudgetToolCalls, float64(b.MaxToolCalls), float64(s.ToolCalls))
}
