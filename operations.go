package ratchet

import (
	"context"
	"errors"
	"fmt"

	"github.com/ratchet-run/ratchet/store"
)

// externalAppendAttempts bounds how often CancelRun, RetryRun and AnswerRun
// reload a run and try again after losing the race with another writer
// (store.ErrConflict); the last conflict is returned.
const externalAppendAttempts = 5

// RunStatusError is returned by CancelRun, RetryRun and DeleteRun for a run
// whose status does not allow the operation: cancelling a run that has
// ended, retrying a run that is not paused, deleting one that has not
// ended. It matches ErrRunEnded (errors.Is)
// when the run has ended.
type RunStatusError struct {
	Op     string
	RunID  string
	Status Status
}

// Error returns "ratchet: cannot OP run ID: it is STATUS".
func (e *RunStatusError) Error() string {
	why := "it is " + string(e.Status)
	if e.Status.Ended() {
		why = "it has already ended (" + string(e.Status) + ")"
	}
	return fmt.Sprintf("ratchet: cannot %s run %s: %s", e.Op, e.RunID, why)
}

// Is reports whether target is ErrRunEnded and the run has ended.
func (e *RunStatusError) Is(target error) bool { return target == ErrRunEnded && e.Status.Ended() }

// CancelRun cancels a run from any process (an operator's tool, the CLI):
// it appends run_cancelled with reason and sets the run's index status to
// cancelled, with optimistic concurrency. A process stepping the run finds
// out at its next append (store.ErrConflict) and stops. It returns a
// *RunStatusError for a run that has already ended, and errors wrapping
// store.ErrNotFound for an unknown run. A nil clock means SystemClock().
// It has no Agent and so no Redactor: reason is persisted as given (as the
// ratchet CLI's cancel command gives it).
func CancelRun(ctx context.Context, st store.Store, clock Clock, runID, reason string) (State, error) {
	return appendExternal(ctx, st, clockOr(clock), runID, 0, func(s *State) (*Record, error) {
		if s.Status.Ended() {
			return nil, &RunStatusError{Op: "cancel", RunID: runID, Status: s.Status}
		}
		return &Record{Kind: RecRunCancelled, Step: s.Step, Error: &ErrorInfo{Kind: "cancelled", Message: reason}}, nil
	})
}

// RetryRun marks a paused run for resumption from any process: it appends
// run_resumed carrying budget (nil: no override; its zero fields keep the
// current limits) and sets the run's index status back to running, so that
// a Scheduler, or Agent.Resume, continues it with the raised budget. It
// returns a *RunStatusError for a run that is not paused.
func RetryRun(ctx context.Context, st store.Store, clock Clock, runID string, budget *Budget) (State, error) {
	return appendExternal(ctx, st, clockOr(clock), runID, 0, func(s *State) (*Record, error) {
		if s.Status != StatusPaused {
			return nil, &RunStatusError{Op: "retry", RunID: runID, Status: s.Status}
		}
		return &Record{Kind: RecRunResumed, Step: s.Step, Budget: budget}, nil
	})
}

// DeleteRun removes an ended run (succeeded, failed or cancelled) from st,
// from any process: its records, its index entry and its event inbox (see
// a store run of agent InboxAgent), if it has one. Nothing steps an ended run or appends to it, so
// deleting it races with no writer. It returns a *RunStatusError for a run
// that has not ended (cancel it first), and errors wrapping
// store.ErrNotFound for an unknown run. A File store forgets the run at
// once, though the bytes it took stay in its append-only log.
//
// st must be a store.Deleter: for a store that is not, DeleteRun changes
// nothing and returns a *store.UnsupportedError (errors.ErrUnsupported).
func DeleteRun(ctx context.Context, st store.Store, runID string) error {
	del, ok := st.(store.Deleter)
	if !ok {
		return store.NewUnsupportedError("ratchet: delete run "+cutID(runID), st, "Deleter")
	}
	if err := store.ValidateID(runID); err != nil {
		return fmt.Errorf("ratchet: delete run: %w", err)
	}
	info, err := st.Get(ctx, runID)
	if err != nil {
		return fmt.Errorf("ratchet: delete run %s: %w", runID, err)
	}
	if status := Status(info.Status); !status.Ended() {
		return &RunStatusError{Op: "delete", RunID: runID, Status: status}
	}
	if err := del.Delete(ctx, runID); err != nil {
		return fmt.Errorf("ratchet: delete run %s: %w", runID, err)
	}
	if err := del.Delete(ctx, inboxID(runID)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("ratchet: delete the inbox of run %s: %w", runID, err)
	}
	return nil
}

func clockOr(c Clock) Clock {
	if c == nil {
		return SystemClock()
	}
	return c
}

// Cancel cancels a run from this scheduler (see CancelRun), with reason
// passed through the Redactor of the run's agent, if registered with s,
// before it is persisted. A worker of s stepping the run stops at its
// next append.
func (s *Scheduler) Cancel(ctx context.Context, runID, reason string) (State, error) {
	red, err := s.runRedactor(ctx, runID)
	if err != nil {
		return State{}, err
	}
	if red != nil {
		reason = red.Redact(reason)
	}
	return CancelRun(ctx, s.cfg.Store, s.cfg.Clock, runID, reason)
}
