package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// appendAttempts bounds the retries of an operation that keeps losing the
// race with another writer of the run.
const appendAttempts = 5

// opResult is what cancel and retry print with -json.
type opResult struct {
	RunID string `json:"run_id"`
	// Op is "cancel", "retry" or "answer".
	Op string `json:"op"`
	// Status is the run's status after the operation.
	Status ratchet.Status `json:"status"`
	// Seq is the sequence of the record appended.
	Seq    uint64          `json:"seq"`
	Reason string          `json:"reason,omitempty"`
	Budget *ratchet.Budget `json:"budget,omitempty"`
	// Interrupt and Answer are answer's.
	Interrupt string          `json:"interrupt,omitempty"`
	Answer    *ratchet.Answer `json:"answer,omitempty"`
}

// appendOp appends one record to a run with optimistic concurrency: it
// loads the run's state, lets check refuse the operation, appends the
// record mk makes with Expected set to the last sequence read, and on
// store.ErrConflict (another writer appended first; nothing was written)
// loads the run again and starts over, up to appendAttempts times. The
// run's index entry gets the status and totals of the new state.
//
// A process stepping the run in memory finds out at its next append, which
// fails with store.ErrConflict: it must load the run again (Agent.Resume,
// as the Scheduler does), and sees the operator's record.
func appendOp(ctx context.Context, s store.Store, runID string, check func(*ratchet.State) error, mk func(*ratchet.State) *ratchet.Record) (ratchet.State, error) {
	var err error
	for attempt := 0; attempt < appendAttempts; attempt++ {
		var st ratchet.State
		st, err = ratchet.LoadState(ctx, s, runID)
		if err != nil {
			return ratchet.State{}, notFound(runID, err)
		}
		if err := check(&st); err != nil {
			return ratchet.State{}, err
		}
		rec := mk(&st)
		rec.Version = ratchet.FormatVersion
		rec.Time = time.Now().UTC()
		if rec.Time.Before(st.UpdatedAt) {
			rec.Time = st.UpdatedAt // keep the log's times in order
		}
		rec.Seq = st.Seq + 1
		data, encErr := ratchet.EncodeRecord(rec)
		if encErr != nil {
			return ratchet.State{}, encErr
		}
		next := st.Clone()
		if applyErr := next.Apply(rec); applyErr != nil {
			return ratchet.State{}, applyErr
		}
		err = s.Append(ctx, store.Batch{RunID: runID, Expected: st.Seq, Records: [][]byte{data}, Meta: metaOf(&next)})
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return ratchet.State{}, notFound(runID, err)
		}
	}
	return ratchet.State{}, fmt.Errorf("run %s: gave up after %d attempts: %w", runID, appendAttempts, err)
}

// metaOf is the index entry of a run in state st, as the step loop writes
// it (Run's meta method): the status, times and totals. WakeAt stays zero:
// a cancelled run is never due, and a resumed run is due at once (status
// running).
func metaOf(st *ratchet.State) store.Meta {
	return store.Meta{
		Status:      string(st.Status),
		UpdatedAt:   st.UpdatedAt,
		SnapshotSeq: st.SnapshotSeq,
		Totals: store.Totals{
			Steps:        int64(st.Step),
			InputTokens:  st.Usage.InputTokens,
			OutputTokens: st.Usage.OutputTokens,
			ToolCalls:    int64(st.ToolCalls),
			CostUSD:      st.CostUSD,
		},
	}
}
