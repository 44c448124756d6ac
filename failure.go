package ratchet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ModelErrorKind classifies a failed model call. The retry policy decides
// from the kind, never from message text.
type ModelErrorKind string

// The model error kinds. Adapters classify provider errors into them.
const (
	// ModelRateLimited: the provider throttled the call (HTTP 429). Retried,
	// honouring RetryAfter.
	ModelRateLimited ModelErrorKind = "rate_limited"
	// ModelTransient: a server error (5xx), a network error or a broken
	// stream. Retried.
	ModelTransient ModelErrorKind = "transient"
	// ModelTimeout: the call exceeded its deadline. Retried.
	ModelTimeout ModelErrorKind = "timeout"
	// ModelBadRequest: the provider rejected the request (400, 404, 422).
	// Not retried.
	ModelBadRequest ModelErrorKind = "bad_request"
	// ModelAuth: missing or invalid credentials, or no permission (401,
	// 403). Not retried.
	ModelAuth ModelErrorKind = "auth"
	// ModelContextLength: the prompt exceeds the model's context window.
	// Not retried as is; the history policy may shorten the prompt.
	ModelContextLength ModelErrorKind = "context_length"
	// ModelContentFilter: the provider's content filter refused the prompt
	// or the response. Not retried.
	ModelContentFilter ModelErrorKind = "content_filter"
	// ModelInvalidOutput: the server itself failed to parse the model's
	// output (for example Groq's tool_use_failed). Handled like
	// unparseable output: a repair turn.
	ModelInvalidOutput ModelErrorKind = "invalid_output"
	// ModelResponseTooLarge: the response (its body, a stream, or one
	// line of a stream) exceeded the adapter's size limit, and reading
	// stopped there; or the runtime could not persist it, as its
	// model_responded record would be over the store's record limit (its
	// usage is then recorded and counted). Not retried by default: the
	// same request would likely get the same answer (a Classify may retry
	// it). Retries spent, the run pauses; Step does not call the model for
	// a run paused so until an operator resumes it (RetryRun).
	ModelResponseTooLarge ModelErrorKind = "response_too_large"
)

// ModelError is a failed model call, classified at the adapter boundary.
type ModelError struct {
	Kind ModelErrorKind
	// StatusCode is the HTTP status, 0 when there was none.
	StatusCode int
	// RetryAfter is the delay the provider asked for (Retry-After or its
	// rate-limit headers), 0 when it gave none.
	RetryAfter time.Duration
	// Code is the provider's error code or type, if any.
	Code string
	// Message is the provider's error message, if any.
	Message string
	// Output is what the model produced, when the provider reports it
	// (ModelInvalidOutput's failed generation).
	Output string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns a one-line description starting with "ratchet: model".
func (e *ModelError) Error() string {
	var b strings.Builder
	b.WriteString("ratchet: model ")
	b.WriteString(string(e.Kind))
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (status %d)", e.StatusCode)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ModelError) Unwrap() error { return e.Err }

// Retryable reports whether the default retry policy retries this kind:
// rate limits, transient errors and timeouts.
func (e *ModelError) Retryable() bool {
	switch e.Kind {
	case ModelRateLimited, ModelTransient, ModelTimeout:
		return true
	}
	return false
}

// Sentinel errors. Typed errors match them through errors.Is.
var (
	// ErrRunEnded is returned by Run.Step for a run that has succeeded,
	// failed or been cancelled.
	ErrRunEnded = errors.New("ratchet: run has ended")
	// ErrRunBroken is returned by Run.Step after an append to the store
	// failed: the in-memory run may be ahead of the store. Load the run
	// again with Agent.Resume; the store holds it as of its last
	// successful append.
	ErrRunBroken = errors.New("ratchet: run must be reloaded after a store failure")
	// ErrBudgetExceeded matches every *BudgetError.
	ErrBudgetExceeded = errors.New("ratchet: budget exceeded")
	// ErrUnparseable matches every *ParseError.
	ErrUnparseable = errors.New("ratchet: unparseable model output")
	// ErrToolFailed matches every *ToolError.
	ErrToolFailed = errors.New("ratchet: tool failed")
	// ErrModelFailed matches every *ModelError.
	ErrModelFailed = errors.New("ratchet: model call failed")
	// ErrCorruptLog is returned when a run's records cannot be decoded or
	// do not follow each other.
	ErrCorruptLog = errors.New("ratchet: corrupt run log")
	// ErrUnsupportedFormat is returned for records written by a newer
	// format version than this code reads.
	ErrUnsupportedFormat = errors.New("ratchet: unsupported record format version")
	// ErrNotCompleted is returned by DecodeOutput for a run that has not
	// succeeded.
	ErrNotCompleted = errors.New("ratchet: run has not completed")
	// ErrWrongAgent is returned by Agent.Resume for a run started by an
	// agent of another name.
	ErrWrongAgent = errors.New("ratchet: run belongs to another agent")
	// ErrRunBusy matches every *RunBusyError: another owner steps the run. It
	// is also returned by Scheduler.Send for a run a worker of the same
	// Scheduler is stepping, when the run's agent has OnBusy BusyReject. (An
	// event for a run another process is stepping goes to the run's inbox.)
	ErrRunBusy = errors.New("ratchet: run is busy")
	// ErrAlreadyAnswered is returned by Answer for an interrupt that was
	// already answered (or defaulted); nothing was written.
	ErrAlreadyAnswered = errors.New("ratchet: interrupt already answered")
	// ErrUnknownInterrupt is returned by Answer for an interrupt ID the
	// run never raised.
	ErrUnknownInterrupt = errors.New("ratchet: no such interrupt")
	// ErrInvalidAnswer is returned by Answer for an answer that does not
	// fit the question's schema; nothing was written.
	ErrInvalidAnswer = errors.New("ratchet: answer does not fit the question's schema")
	// ErrUnknownAgent is returned by StartRun (and logged by the workers)
	// for an agent name that was not registered.
	ErrUnknownAgent = errors.New("ratchet: agent not registered with the scheduler")
	// ErrSchedulerStopped is returned by StartRun, Start and Register once
	// the scheduler is stopping or stopped.
	ErrSchedulerStopped = errors.New("ratchet: scheduler stopped")
	// ErrUnknownPeriodic is returned by RemovePeriodic and LoadPeriodic for
	// a schedule that does not exist (or was removed, for RemovePeriodic).
	ErrUnknownPeriodic = errors.New("ratchet: unknown periodic schedule")
)

// Is reports whether target is ErrModelFailed.
func (e *ModelError) Is(target error) bool { return target == ErrModelFailed }

// ToolErrorKind classifies a failed tool call.
type ToolErrorKind string

// The tool error kinds.
const (
	// ToolErrorReturned: the tool returned an error.
	ToolErrorReturned ToolErrorKind = "error"
	// ToolErrorTimeout: the call ran past its timeout.
	ToolErrorTimeout ToolErrorKind = "timeout"
	// ToolErrorPanic: the tool panicked; Stack holds the stack.
	ToolErrorPanic ToolErrorKind = "panic"
	// ToolErrorUnknownOutcome: the process stopped while the call ran and
	// the tool is not idempotent.
	ToolErrorUnknownOutcome ToolErrorKind = "unknown_outcome"
	// ToolErrorCancelled: a sibling call's failure cancelled the call.
	ToolErrorCancelled ToolErrorKind = "cancelled"
)

// ToolError is a failed tool call.
type ToolError struct {
	Tool    string
	CallID  string
	Attempt int
	Kind    ToolErrorKind
	// Stack is the goroutine stack of a panic.
	Stack []byte
	Err   error
}

// Error returns "ratchet: tool NAME (call ID, attempt N) KIND: CAUSE".
func (e *ToolError) Error() string {
	msg := fmt.Sprintf("ratchet: tool %q (call %s, attempt %d) %s", e.Tool, e.CallID, e.Attempt, e.Kind)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *ToolError) Unwrap() error { return e.Err }

// Is reports whether target is ErrToolFailed.
func (e *ToolError) Is(target error) bool { return target == ErrToolFailed }

// ParseKind says what part of a model response could not be used.
type ParseKind string

// The parse kinds.
const (
	ParseArguments    ParseKind = "arguments"      // tool arguments not JSON or off-schema
	ParseUnknownTool  ParseKind = "unknown_tool"   // a call of a tool the agent lacks
	ParseEmpty        ParseKind = "empty"          // no text and no tool calls
	ParseOutput       ParseKind = "output"         // a final answer off the output schema
	ParseServer       ParseKind = "server"         // the server failed to parse the output
	ParseTooManyCalls ParseKind = "too_many_calls" // more calls than ParsePolicy.MaxCallsPerResponse
)

// ParseError is model output that stayed unusable after the parse policy's
// repair turns. The bad output stays in the run's history.
type ParseError struct {
	Kind ParseKind
	// Raw is the offending text (arguments or answer).
	Raw string
	// Reason is the precise problem, as told to the model.
	Reason string
	// Repairs is the number of repair turns used.
	Repairs int
	// Err is the underlying validation error, if any.
	Err error
}

// Error returns "ratchet: unparseable model output (KIND) after N repairs: REASON".
func (e *ParseError) Error() string {
	return fmt.Sprintf("ratchet: unparseable model output (%s) after %d repairs: %s", e.Kind, e.Repairs, e.Reason)
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Is reports whether target is ErrUnparseable.
func (e *ParseError) Is(target error) bool { return target == ErrUnparseable }

// BudgetKind names one budget.
type BudgetKind string

// The budgets.
const (
	BudgetSteps        BudgetKind = "steps"
	BudgetWallTime     BudgetKind = "wall_time"
	BudgetInputTokens  BudgetKind = "input_tokens"
	BudgetOutputTokens BudgetKind = "output_tokens"
	BudgetTotalTokens  BudgetKind = "total_tokens"
	BudgetCost         BudgetKind = "cost_usd"
	BudgetToolCalls    BudgetKind = "tool_calls"
	BudgetStepTime     BudgetKind = "step_time"
)

// BudgetError reports an exhausted budget. The run is paused, nothing is
// discarded; raise the budget and call Step again to continue.
type BudgetError struct {
	Budget BudgetKind
	// Limit and Used are in the budget's unit: steps, calls, tokens,
	// seconds or US dollars.
	Limit, Used float64
}

// Error returns "ratchet: budget exceeded: BUDGET used U of limit L".
func (e *BudgetError) Error() string {
	return fmt.Sprintf("ratchet: budget exceeded: %s used %g of limit %g", e.Budget, e.Used, e.Limit)
}

// Is reports whether target is ErrBudgetExceeded.
func (e *BudgetError) Is(target error) bool { return target == ErrBudgetExceeded }

// errorInfo is the persisted form of err.
func errorInfo(err error) *ErrorInfo {
	var (
		me *ModelError
		te *ToolError
		pe *ParseError
		be *BudgetError
	)
	kind := "error"
	switch {
	case errors.As(err, &be):
		kind = "budget:" + string(be.Budget)
	case errors.As(err, &pe):
		kind = "parse:" + string(pe.Kind)
	case errors.As(err, &te):
		kind = "tool:" + string(te.Kind)
	case errors.As(err, &me):
		kind = "model:" + string(me.Kind)
	case errors.Is(err, context.Canceled):
		kind = "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		kind = "deadline"
	}
	return &ErrorInfo{Kind: kind, Message: err.Error()}
}

// MaxRepairsDefault is ParsePolicy.MaxRepairs's default.
const MaxRepairsDefault = 2

// ParsePolicy governs unusable model output: invalid or off-schema tool
// arguments, unknown tools, empty responses, final answers off the output
// schema. Each gets a repair turn telling the model precisely what was wrong;
// after MaxRepairs consecutive repair turns the run fails with a *ParseError.
type ParsePolicy struct {
	// MaxRepairs defaults to 2 (MaxRepairsDefault); a negative value allows
	// no repair turn (the first unusable output fails the run).
	MaxRepairs int
	// MaxCallsPerResponse is the most tool calls one response may ask
	// for. A response with more is unusable output: none of its calls
	// runs, they are not persisted (only their number), and the model
	// gets a repair turn asking for fewer. Defaults to 128
	// (MaxCallsPerResponseDefault).
	MaxCallsPerResponse int
}

// MaxCallsPerResponseDefault is ParsePolicy.MaxCallsPerResponse's default.
const MaxCallsPerResponseDefault = 128
