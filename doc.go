// Package ratchet runs LLM agents in production: a synchronous step loop
// over a durable, append-only record log.
//
// An Agent (model, instructions, typed tools, policies) is immutable and
// shared. A Run is one execution of an Agent toward one goal; Run.Step
// performs exactly one step and returns a read-only Step record of what
// happened. Run.Wait and Agent.Run loop Step to the end.
//
// # The ordering contract
//
// Every step makes its effects durable before acting on them:
//
//  1. Budgets are checked and the request is built from the State alone.
//  2. The model is called (with the retry policy; each failed attempt is
//     appended as model_failed).
//  3. model_responded is appended, with the raw tool-call arguments exactly
//     as the model produced them, before any tool runs. Calls that cannot
//     run (unknown tool, invalid arguments) get their tool_finished error
//     result in the same batch: a repair turn.
//  4. tool_started is appended before each call runs, and tool_finished
//     after it returns, each as it happens; calls run in parallel up to
//     Config.MaxParallelTools and their results are kept in call order.
//     A step's only call, when it can start at once, has its tool_started
//     in the same batch as model_responded.
//  5. A final answer appends run_completed; a stop appends run_paused or
//     run_failed.
//
// Each Step's records are in the store before Step returns.
//
// # Size
//
// A store limits the size of one record (4 MiB for store.Memory and
// store.File by default; see RecordSizer). No record the runtime appends
// is over it, whatever the size of the run: persisted state grows by each
// step's delta. Snapshots are incremental (the messages since the previous
// one) and bounded (SnapshotMaxBytes); a tool result is cut to fit
// (ToolResult.OriginalBytes records the cut); a model response too large
// to persist is a *ModelError of kind ModelResponseTooLarge, its usage
// counted, and pauses the run after the retry policy.
//
// # Resume
//
// Agent.Resume loads a run (its snapshots, and the records no snapshot
// covers; see LoadState) into a fresh Run. After model_responded the model is not called again;
// after tool_finished that tool is not run again. A call found between
// tool_started and tool_finished runs again if its tool is idempotent (with
// the same idempotency key, see IdempotencyKey), and otherwise gets its
// OnUnknownOutcome policy (by default the model is told the outcome is
// unknown). The history sent to the model is always well-formed: every tool
// call has exactly one result.
//
// # Records
//
// A run's log is a sequence of JSON records (Record), each carrying the
// format version ("v"), its kind and time. State is a fold over them
// (State.Apply), so the log alone tells everything that happened. A
// record's JSON is what encoding/json makes of it: the struct tags of
// Record and of the types it holds are the format's one definition
// (EncodeRecord, DecodeRecord). Records and Steps have a stable text form
// (Record.String, Step.String) used for golden tests.
//
// # Failures
//
// Every failure is a typed error that errors.As opens: *ModelError,
// *ToolError, *ParseError, *BudgetError; errors.Is matches ErrModelFailed,
// ErrToolFailed, ErrUnparseable and ErrBudgetExceeded. Every policy
// (RetryPolicy, Budget, ParsePolicy, ToolPolicy, HistoryPolicy) is a plain
// value whose zero fields mean documented defaults.
//
// # Observability
//
// Config.Observer receives an Event for every run start, resume,
// suspension and end, every step, every model call attempt, every tool
// call, every checkpoint and budget warnings (NewSlogObserver logs them;
// MultiObserver fans them out). An Observer that is also a CallObserver
// sees each model and tool call begin and chooses the context the call
// runs with: package ratchetotel uses it so that the spans a model client
// or a tool start nest under the call's span. With no Observer the step
// loop builds no events.
package ratchet
