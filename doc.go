// Package ratchet runs LLM agents in production: a synchronous step loop
// over a durable, append-only record log.
//
// An Agent (model, instructions, typed tools, policies) is immutable and
// shared. A Run is one execution of an Agent toward one goal; Run.Step
// performs exactly one step and returns a read-only Step record of what
// happened. Run.Wait and Agent.Run loop Step to the end.
//
// # Driving a run
//
// An application that wants to see every step drives the loop itself, the
// way a raft application drives its Ready loop. A Run is not safe for
// concurrent use: one goroutine steps it (a Scheduler is the concurrent
// owner of many runs).
//
//	run, err := agent.Start(ctx, "What is 2+3?", nil) // or agent.Resume(ctx, runID, nil)
//	if err != nil {
//		return err // a *RunBusyError when another owner steps the run
//	}
//	defer run.Close(ctx) // frees the run's lease if we stop while it is running
//	for run.Status() == ratchet.StatusRunning {
//		step, err := run.Step(ctx) // one model call and its tool calls, persisted
//		if err != nil {
//			// The run stopped, consistent in the store: a *BudgetError
//			// (paused), a *ParseError, *ToolError or *ModelError (failed,
//			// or paused), ctx's error (it resumes later), ErrRunBroken
//			// (a store failure: load it again with Agent.Resume).
//			return err
//		}
//		log.Print(step) // what happened; its Records are in the store already
//	}
//	switch run.Status() {
//	case ratchet.StatusSucceeded:
//		use(run.Output()) // or DecodeOutput, for a TypedOutput
//	case ratchet.StatusWaiting, ratchet.StatusSleeping:
//		// A tool asked a person, or waits for an event or a time. The run
//		// rests in the store: after AnswerRun, Scheduler.Send or the
//		// time, Agent.Resume or a Scheduler continues it, in any process.
//	case ratchet.StatusPaused:
//		// A budget or a policy stopped it: Step again, or Resume with a
//		// raised RunOptions.Budget.
//	}
//
// Step returns once the step's records are in the store, so the process
// may die between two Steps, or during one, and Agent.Resume continues
// from the log (see the ordering contract and Resume below). The Examples
// of this package run such a loop, or a Scheduler, on a scripted model.
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
//
// # Writing a Model
//
// A Model is one method, Generate, like a database/sql driver's Conn: it
// turns a provider-neutral Request into a Response (package openai is the
// reference adapter). What the runtime relies on:
//
//   - Response.Message has Role RoleAssistant, the text and the ToolCalls,
//     each with the provider's call ID and the Arguments exactly as the
//     model wrote them: the runtime validates them and persists them
//     unchanged (but for Config.Redactor). The provider's stop reason maps
//     onto a FinishReason; Usage (and Model, for Pricing) let budgets and
//     costs count.
//   - Failures are classified at the boundary into a *ModelError: its Kind
//     decides the retry (rate_limited, transient and timeout are retried,
//     the others are not), and RetryAfter carries the provider's
//     Retry-After. An error of any other type is taken as transient.
//   - Generate returns soon once ctx ends: the model timeout, the step
//     timeout and a Scheduler's Stop hold only as far as it honours ctx.
//   - It is safe for concurrent use (one Model serves every run of an
//     Agent), and keeps neither req nor anything req points to.
//
// # Writing a Tool
//
// NewTool makes a Tool of a typed function: the JSON schema of the
// arguments is reflected from its input struct, the model's arguments are
// validated against it before the function runs, and the output goes back
// as JSON (a string as it is). The function's context carries the call's
// timeout and its idempotency key (IdempotencyKey), stable across retries
// and resumes: pass the key to the systems the tool changes.
//
// What a tool returns steers its run. A result goes to the model. An error
// goes to the model too, unless the tool's policy (WithOnError) retries
// the call, fails the run or pauses it. Interrupt, SleepUntil and
// WaitForEvent make the run wait, durably, for a person, a time or an
// event. A panic is recovered into a *ToolError. Options declare what the
// runtime may do with the tool: Idempotent (safe to run again, so it runs
// again after a crash, and WithRetry may retry it), NeedsApproval,
// WithTimeout, WithOnUnknownOutcome, WithMaxOutputBytes.
//
// A Tool written by hand (one that forwards to a remote tool server, say)
// implements Spec and Call, and PolicyTool to declare its policies. Like a
// Model, a Tool must be safe for concurrent use: the calls of one step run
// in parallel, and every run of the Agent shares it.
//
// # Writing a Store
//
// A store.Store keeps, for each run, an append-only log of opaque records
// and one index entry (store.RunInfo: agent, status, labels, wake-up time,
// totals, lease). It knows nothing of agents, as database/sql/driver knows
// nothing of database/sql. The contract in short (package store documents
// each method):
//
//   - Append is atomic and durable: when it returns nil the whole batch
//     survives a crash; otherwise none of it was written.
//   - Appends are optimistic: a Batch names the last sequence its writer
//     saw, and a stale writer gets store.ErrConflict, with nothing written.
//     A non-zero Batch.Fence must be the run's current lease token, or the
//     append is a conflict too.
//   - The index answers List by status, agent, labels and wake-up time;
//     Get, Read and Append return store.ErrNotFound for an unknown run.
//
// Optional abilities are separate interfaces, found by type assertion
// (as database/sql/driver's Pinger):
//
//   - store.Leaser (AcquireLease, RenewLease, ReleaseLease) gives a run to
//     one owner at a time, with a token that grows with each new owner and
//     fences the older owners' appends. Agent.Start, Agent.Resume and the
//     Scheduler take leases; a Scheduler requires them. Without them one
//     process per store is the application's to ensure, and a store must
//     refuse any non-zero Fence.
//   - store.Deleter (Delete) forgets a run: DeleteRun, the CLI's delete and
//     prune, and SchedulerConfig.Retention need it.
//   - RecordSizer says the store's record limit (4 MiB is assumed).
//   - Byte slices are neither kept nor shared with the caller; times come
//     back in UTC; every method is safe for concurrent use and honours its
//     context.
//
// Test a store with storetest.Run, the conformance suite that Memory and
// File pass: sequences, conflicts, fencing and leases, the index and its
// queries, the sentinel errors, deletion, byte ownership and concurrent
// use. A store's failures should wrap their cause (a full disk, a
// timeout, a closed connection), so that ClassifyStoreError, and through
// it a Scheduler's StoreFailurePolicy, can tell a failure that may pass
// from one that will not.
//
// # Testing
//
// Package ratchettest is to ratchet what net/http/httptest is to net/http:
//
//   - ratchettest.NewModel answers from a script of replies (Text,
//     ToolCalls, Fail, or a Reply that waits or panics), and NewModelFunc
//     computes each reply from the request. Both record every Request, so
//     a test can check what the model was shown, and fail the test on a
//     call the script did not expect.
//   - ratchettest.Clock is a fake Clock that moves only when told to
//     (Advance, Set). Given to Config.Clock and SchedulerConfig.Clock, it
//     runs retries, budgets, timers, leases and answer deadlines, and no
//     test sleeps. Move it only once the code under test waits on it
//     (WaitForWaiters), as ExampleRetryPolicy and ExampleSleepUntil do.
//   - ratchettest.FaultStore wraps any Store and fails the Nth append,
//     before or after the inner store took it, or every append, read or
//     write: a crash between two records, or a full disk, on cue. Give the
//     code under test its Store(), which has the inner store's optional
//     interfaces (leases, delete) exactly when the inner store does.
//   - WithIdempotencyKey gives a tool's own unit test the context the
//     runtime would.
//
// Assert on what was persisted, not on timing. Step.String and
// Record.String are stable text forms: compare whole runs with golden
// transcripts. LoadState reads a run back as another process would see
// it. To test a crash, stop a run at a record boundary (FaultStore),
// resume it with a fresh Agent over the same store, and check what ran
// twice and what did not. Match failures with errors.Is and errors.As,
// never by their text.
package ratchet
