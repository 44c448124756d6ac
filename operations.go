package ratchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/ratchet-run/ratchet/internal/schema"
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
		return store.NewUnsupportedError("ratchet: delete run "+store.QuoteID(runID), st, "Deleter")
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

// appendExternal appends the record build returns to a run this process
// does not step, with optimistic concurrency: on ErrConflict it reloads the
// run and asks build again. fence, when non-zero, fences the append.
func appendExternal(ctx context.Context, st store.Store, clock Clock, runID string, fence uint64, build func(*State) (*Record, error)) (State, error) {
	for attempt := 1; ; attempt++ {
		cur, err := LoadState(ctx, st, runID)
		if err != nil {
			return State{}, err
		}
		rec, err := build(&cur)
		if err != nil {
			return State{}, err
		}
		next, err := appendAfter(ctx, st, clock, &cur, rec, fence)
		if errors.Is(err, store.ErrConflict) && fence == 0 && attempt < externalAppendAttempts {
			continue
		}
		return next, err
	}
}

// appendAfter appends rec to the run in state cur (which it does not
// change) and returns the state after it. fence, when non-zero, fences the
// append. It returns an error wrapping store.ErrConflict when cur is stale.
func appendAfter(ctx context.Context, st store.Store, clock Clock, cur *State, rec *Record, fence uint64) (State, error) {
	rec.Version, rec.Time, rec.Seq = FormatVersion, clock.Now(), cur.Seq+1
	data, err := EncodeRecord(rec)
	if err != nil {
		return State{}, err
	}
	next := cur.Clone()
	if err := next.Apply(rec); err != nil {
		return State{}, err
	}
	err = st.Append(ctx, store.Batch{RunID: cur.RunID, Expected: cur.Seq, Records: [][]byte{data}, Meta: runMeta(&next), Fence: fence})
	if err != nil {
		return State{}, fmt.Errorf("ratchet: run %s: %w", cur.RunID, err)
	}
	return next, nil
}

// AnswerRun answers the pending interrupt interruptID of a run in st, from
// any process: it appends the answered record (reloading and retrying when
// another writer appended first) and makes the run due again, so that any
// Scheduler continues it. An approval runs the call; a rejection reports
// it (with Reason) to the model; a question's answer, validated against its
// schema, becomes the call's result. It returns ErrAlreadyAnswered for an
// interrupt answered before (an answer is used exactly once),
// ErrUnknownInterrupt, ErrInvalidAnswer, or ErrRunEnded.
//
// AnswerRun has no Agent and so no Redactor: the answer is persisted as
// given (as the ratchet CLI's answer command gives it). Scheduler.Answer
// passes it through the Redactor of the run's agent.
func AnswerRun(ctx context.Context, st store.Store, clock Clock, runID, interruptID string, ans Answer) error {
	return answerRun(ctx, st, clock, runID, interruptID, ans, nil)
}

// answerRun is AnswerRun persisting the answer passed through red, when
// not nil, once it has been checked against the question's schema.
func answerRun(ctx context.Context, st store.Store, clock Clock, runID, interruptID string, ans Answer, red Redactor) error {
	if clock == nil {
		clock = SystemClock()
	}
	_, err := appendExternal(ctx, st, clock, runID, 0, func(s *State) (*Record, error) {
		i := slices.IndexFunc(s.Interrupts, func(p PendingInterrupt) bool { return p.ID == interruptID })
		if i < 0 {
			if slices.Contains(s.Answered, interruptID) {
				return nil, fmt.Errorf("%w: %s of run %s", ErrAlreadyAnswered, interruptID, runID)
			}
			if s.Status.Ended() {
				return nil, fmt.Errorf("%w: run %s %s", ErrRunEnded, runID, s.Status)
			}
			return nil, fmt.Errorf("%w: %s of run %s", ErrUnknownInterrupt, interruptID, runID)
		}
		pi := s.Interrupts[i]
		if pi.Kind == InterruptQuestion && len(pi.Schema) > 0 {
			if ans.Value == nil {
				return nil, fmt.Errorf("%w: no value", ErrInvalidAnswer)
			}
			v, err := schema.Compile(pi.Schema)
			if err != nil {
				return nil, fmt.Errorf("%w: schema: %v", ErrInvalidAnswer, err)
			}
			if err := v.Validate(ans.Value); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidAnswer, err)
			}
		}
		if pi.Kind == InterruptQuestion && ans.Value != nil && !json.Valid(ans.Value) {
			return nil, fmt.Errorf("%w: value is not JSON", ErrInvalidAnswer)
		}
		rec := &Record{Kind: RecAnswered, Step: pi.Step, Answer: &AnswerRecord{ID: interruptID, Answer: ans}}
		if red != nil {
			rec = redactRecord(red, rec)
		}
		return rec, nil
	})
	return err
}

// LoadState reads a run's State from s.
//
// It reads the whole log, as snapshots are incremental (see RecSnapshot):
// it decodes the snapshot records, the latest one that holds the whole
// history (an older version's full snapshot, or the run's first), and each
// later one's new messages, and folds only the records that no snapshot
// covers: those after the latest snapshot, and those before a snapshot
// that left its messages out. What it decodes is about the history once,
// plus the records since the latest snapshot.
func LoadState(ctx context.Context, s store.Store, runID string) (State, error) {
	if err := store.ValidateID(runID); err != nil {
		return State{}, fmt.Errorf("ratchet: load run: %w", err)
	}
	if _, err := s.Get(ctx, runID); err != nil {
		return State{}, fmt.Errorf("ratchet: load run %s: %w", runID, err)
	}
	recs, err := s.Read(ctx, runID, 1)
	if err != nil {
		return State{}, fmt.Errorf("ratchet: load run %s: %w", runID, err)
	}
	st, err := foldLog(recs)
	if err != nil {
		return State{}, fmt.Errorf("ratchet: load run %s: %w", runID, err)
	}
	if st.Status == "" {
		return State{}, fmt.Errorf("ratchet: load run %s: %w: no records", runID, ErrCorruptLog)
	}
	st.RunID = runID
	return st, nil
}

// foldLog folds a run's whole log, recs, skipping the records that
// snapshots cover (see LoadState).
func foldLog(recs []store.Record) (State, error) {
	type snapAt struct {
		i   int
		rec *Record
	}
	var snaps []snapAt
	base := -1 // in snaps: the latest snapshot holding the whole history
	for i, sr := range recs {
		if !maybeSnapshot(sr.Data) {
			continue
		}
		rec, err := DecodeRecord(sr.Seq, sr.Data)
		if err != nil {
			return State{}, err
		}
		if rec.Kind != RecSnapshot {
			continue
		}
		if rec.MessagesFrom == 0 && !rec.NoMessages {
			base = len(snaps)
		}
		snaps = append(snaps, snapAt{i, rec})
	}
	var st State
	fold := func(from, to int) error {
		for _, sr := range recs[from:to] {
			rec, err := DecodeRecord(sr.Seq, sr.Data)
			if err != nil {
				return err
			}
			if err := st.Apply(rec); err != nil {
				return err
			}
		}
		return nil
	}
	next := 0 // the first record not folded or skipped
	if base >= 0 {
		snaps = snaps[base:]
	} else {
		snaps = nil // no snapshot to start from: fold everything
	}
	for k, sn := range snaps {
		// A snapshot that holds its messages from where the state is
		// (the previous snapshot) covers the records before it.
		covered := k == 0 || !sn.rec.NoMessages && sn.rec.MessagesFrom == len(st.Messages) && st.SnapshotSeq == recs[next-1].Seq
		if !covered {
			if err := fold(next, sn.i); err != nil {
				return State{}, err
			}
		}
		if err := st.Apply(sn.rec); err != nil {
			return State{}, err
		}
		next = sn.i + 1
	}
	if err := fold(next, len(recs)); err != nil {
		return State{}, err
	}
	return st, nil
}
