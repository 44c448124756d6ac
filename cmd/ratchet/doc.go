// Command ratchet is the operator's tool for a Ratchet file store: it lists
// runs, shows and follows what they did, cancels them, marks paused runs
// for resumption, answers their interrupts and deletes ended runs. It
// opens the store (store.NewFile) alongside any process running agents on
// it: the File store is safe for several processes.
//
// Usage:
//
//	ratchet [-store DIR] [-json] COMMAND [flags] [args]
//
// The store directory defaults to $RATCHET_STORE; ratchet refuses a
// directory that holds no store rather than creating one. Flags may follow
// the run ID ("ratchet show RUN -json"). Every command accepts -json (or
// --json, before or after the command) for scripts.
//
// # Commands
//
//	ratchet runs [-status S]... [-agent A] [-label k=v]... [-limit N] [-all]
//
// Lists runs, newest first: ID, agent, status, created and updated times
// (UTC), steps, tokens (input + output), cost. -status may repeat or list
// statuses separated by commas; -label keeps runs carrying every label
// given; -limit defaults to 50 (0 lists all). The runtime's own
// bookkeeping runs (periodic schedules, agent "ratchet.periodic"; event
// inboxes, "ratchet.inbox") are left out unless -all is given or -agent
// names them. With -json: a JSON array of
// the store's index entries (store.RunInfo: id, agent, labels, created_at,
// status, updated_at, wake_at, snapshot_seq, totals, last_seq, lease).
//
//	ratchet show RUN
//
// Prints a run's summary (status, totals, labels, error, budget override)
// and its timeline, one entry per record: the input, each model response
// with its text, tool calls and their arguments, usage and cost; tool calls
// started and finished with their results and durations; failed model and
// tool attempts with the delay before the retry; repair and wind-down
// turns; history trimming; pauses, resumptions, completion, failure and
// cancellation. A record of a kind this version does not know is printed in
// its stable text form (ratchet.Record's String). With -json: a JSON array
// of the stored records, each the record's own JSON object with its
// sequence added as "seq" (fields of unknown kinds are kept).
//
//	ratchet tail RUN [-from SEQ] [-interval 500ms]
//
// Follows a run: prints its records from SEQ (default 1), then polls the
// store every interval and prints the records appended since, until the run
// has ended (succeeded, failed or cancelled) and every record is printed,
// or until SIGINT. A paused run is followed until it ends. With -json: one
// record object per line (JSON lines), as show -json prints them.
//
//	ratchet cancel RUN [-reason TEXT]
//
// Cancels a run that has not ended: appends a run_cancelled record whose
// error (kind "cancelled") carries the reason, and sets the run's index
// status to "cancelled". A run that has ended is refused (exit code 1).
// With -json: {"run_id", "op": "cancel", "status", "seq", "reason"}.
//
//	ratchet retry RUN [-max-steps N] [-max-cost USD] [-max-tokens N]
//	    [-max-input-tokens N] [-max-output-tokens N] [-max-tool-calls N]
//	    [-max-wall-time D] [-step-timeout D] [-wind-down]
//
// Marks a paused run for resumption. The CLI has no model, so it does not
// step the run: it appends a run_resumed record carrying the budget limits
// given (a budget override; -1 lifts a limit, -max-tokens is the total) and
// sets the run's index status back to "running". The next process that
// owns the run's agent continues it: a Scheduler that recovers running
// runs, or Agent.Resume, which applies the override (State.Budget) over
// the agent's Config.Budget unless RunOptions.Budget is given. A run that
// is not paused is refused (exit code 1). With -json: {"run_id", "op":
// "retry", "status", "seq", "budget"}.
//
//	ratchet answer RUN INTERRUPT VALUE [-reason TEXT]
//
// Answers a pending interrupt of a waiting run (show lists the pending
// interrupts and their IDs). For an approval, VALUE is approve (yes, true)
// or reject (no, false), with -reason telling the model why it was
// rejected. For a question, VALUE is the answer: JSON when it parses as
// JSON, otherwise the text as a JSON string; it must fit the question's
// schema. The answer is appended with ratchet.AnswerRun, which makes the
// run due again, so a Scheduler continues it (or Agent.Resume). Answering
// twice fails with ratchet.ErrAlreadyAnswered, an unknown interrupt with
// ratchet.ErrUnknownInterrupt. With -json: {"run_id", "op": "answer",
// "status", "seq", "interrupt", "answer"}.
//
//	ratchet delete RUN
//
// Deletes a run that has ended (succeeded, failed or cancelled) and its
// event inbox, with ratchet.DeleteRun: the store forgets it (a File store's
// log keeps the bytes; the log is append-only). A run that has not ended is
// refused: cancel it first. Delete and prune need a store that can delete
// runs (a store.Deleter, as File is); on one that cannot they fail, before
// looking at any run, with a *store.UnsupportedError. With -json:
// {"deleted": [RUN]}.
//
//	ratchet prune -older-than D [-status S]... [-agent A] [-dry-run]
//
// Deletes, as delete does, every ended run last updated more than D ago
// (a Go duration: 720h for thirty days), oldest first; -status narrows it
// to some of succeeded, failed and cancelled, -agent to one agent's runs.
// The runtime's own bookkeeping runs are left alone. -dry-run lists what
// would be deleted. With -json: {"deleted": [IDs], "dry_run"}.
//
//	ratchet compact
//
// Rewrites the store's log with its live runs only (store.File.Compact),
// reclaiming what deleted runs and superseded index entries took. It needs
// the store to itself: while another process has it open it fails (exit
// code 1) and changes nothing. With -json: {"op": "compact"}.
//
//	ratchet verify
//
// Reads the whole log and checks every frame's checksums and every run's
// records, read-only. Prints how many intact runs and records there are
// and one "DAMAGED:" line per problem (a damaged run, with the records
// still intact, or damaged bytes no run can be told from), and exits 1
// when there is any. A store whose acknowledged data is missing (a log
// shorter than its index checkpoint shows it was) does not open: verify
// exits 1 with that error. With -json: {"runs", "records", "damaged",
// "problems"}.
//
//	ratchet salvage DIR NEWDIR
//
// Copies every intact run and record of the store in DIR (opened
// read-only, never changed; no -store needed) into a new store in NEWDIR,
// which must be empty or missing: a damaged run is copied with its
// records before the damage; leases are not copied. A store with missing
// data is salvaged from its log alone. Prints one line per run copied.
//
// # Read-only commands
//
// runs, show, tail and verify open the store read-only
// (store.FileOptions.ReadOnly): they never change it, not even to cut a
// torn tail, and work for a user who may only read its directory. What the
// store finds while opening (a torn tail, damage, a directory others may
// write) is printed on stderr.
//
// # Concurrency
//
// cancel, retry and answer append through the Store with the run's last sequence
// as Batch.Expected: when another writer (a running agent or scheduler in
// another process) appended first, the store returns store.ErrConflict and
// writes nothing, and ratchet loads the run again, checks it again and
// retries, a few times. The writer that lost the race gets ErrConflict on
// its own next append, loads the run again and sees the operator's record:
// a cancelled run ends, a resumed one continues with its new budget.
//
// # Exit codes
//
// 0 on success; 1 on an error (an unknown run, named in the message; a run
// whose status refuses the operation; a store error); 2 on a bad command
// line, with the usage.
package main
