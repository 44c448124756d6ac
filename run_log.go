package ratchet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// This file is the Run's only writer to the store: every record a run
// appends goes through a batch, staged (encoded, kept within the store's
// record limit, applied to the state it leads to) and then committed as
// one atomic, fenced Store.Append. The state changes only once the store
// has the batch.

// batch is one append in the making.
type batch struct {
	now  time.Time // the records' time
	recs []*Record
	data [][]byte // recs encoded, slices of buf
	buf  []byte
	next State // the state recs lead to
}

// newBatch starts a batch at now (a reading of the run's Clock). Within a
// step, a time before the step's last append (a parallel call's reading
// taken before a sibling appended) is moved up to it, so that the step's
// record times never go back. (Records that another process or clock
// wrote, an operator's answer say, are not compared.)
func (r *Run) newBatch(now time.Time) (*batch, error) {
	if r.broken != nil {
		return nil, r.broken
	}
	if !r.mark.IsZero() && now.Before(r.mark) {
		now = r.mark
	}
	// next starts as a shallow copy of the state: see commit on failure.
	// The batch's encodings go in the Run's buffer, reused from batch to
	// batch (a Store keeps none of what it is given): a buffer per batch
	// was 30% of the Scheduler throughput benchmark's bytes.
	if r.encBuf == nil {
		r.encBuf = make([]byte, 0, 1024)
	}
	return &batch{now: now, next: r.state, buf: r.encBuf[:0]}, nil
}

// stage adds rec to b: it encodes rec (cut to fit the record limit, see
// fitRecord) and applies it to b.next.
func (r *Run) stage(b *batch, rec *Record) error {
	i := len(b.recs)
	rec.Version = FormatVersion
	rec.Time = b.now
	rec.Seq = r.state.Seq + uint64(i) + 1
	if i == 0 && !r.mark.IsZero() {
		rec.Active = b.now.Sub(r.mark)
	}
	buf, err := appendEncodedRecord(b.buf, rec)
	if err != nil {
		return fmt.Errorf("ratchet: run %s: encode %s: %w", r.ID(), rec.Kind, err)
	}
	if size := len(buf) - len(b.buf); size > r.recordLimit() {
		if buf, err = r.fitRecord(rec, b.buf, size); err != nil {
			return err
		}
	}
	if err := b.next.Apply(rec); err != nil {
		return fmt.Errorf("ratchet: run %s: %w", r.ID(), err)
	}
	b.recs, b.data = append(b.recs, rec), append(b.data, buf[len(b.buf):len(buf):len(buf)])
	b.buf = buf
	if cap(buf) <= 64<<10 {
		r.encBuf = buf[:0] // (a big one goes with its batch)
	}
	return nil
}

// append persists recs as one batch and then applies them to the state.
// Callers running tool calls in parallel hold r.mu. Appends use a context
// that is not cancelled with ctx: work that was done is saved even when the
// run is being cancelled.
func (r *Run) append(ctx context.Context, recs ...*Record) error {
	return r.appendAt(ctx, r.a.cfg.Clock.Now(), recs...)
}

// appendAt is append at the time now, read from the run's Clock by the
// caller (see newBatch).
func (r *Run) appendAt(ctx context.Context, now time.Time, recs ...*Record) error {
	if red := r.a.cfg.Redactor; red != nil {
		for i, rec := range recs {
			recs[i] = redactRecord(red, rec)
		}
	}
	for try := 0; ; try++ {
		err := r.appendOnce(ctx, now, recs)
		if err == nil || !r.retryTooLarge(err, recs, try) {
			return err
		}
		// The store refused the batch as too large: its limit is lower
		// than it said, and the batch's tool results are cut harder.
	}
}

func (r *Run) appendOnce(ctx context.Context, now time.Time, recs []*Record) error {
	b, err := r.newBatch(now)
	if err != nil {
		return err
	}
	for i, rec := range recs {
		if err := r.stage(b, rec); err != nil {
			if _, ok := errors.AsType[*RecordTooLargeError](err); ok && i > 0 {
				return r.afterTooLarge(ctx, err) // staging may have changed r.state's memory
			}
			return err
		}
	}
	return r.commit(ctx, b)
}

// commit persists b as one batch and makes b.next the run's state.
func (r *Run) commit(ctx context.Context, b *batch) error {
	before := r.state.Status
	err := r.a.cfg.Store.Append(context.WithoutCancel(ctx), store.Batch{
		RunID:    r.ID(),
		Expected: r.state.Seq,
		Records:  b.data,
		Meta:     runMeta(&b.next),
		Fence:    r.fence,
	})
	if err != nil && errors.Is(err, store.ErrTooLarge) {
		return r.afterTooLarge(ctx, &RecordTooLargeError{Kind: b.recs[0].Kind, Size: maxLen(b.data), Err: err})
	}
	if err != nil && errors.Is(err, store.ErrConflict) && r.fence != 0 && onlyResults(b.recs) {
		// Another writer appended (an operator's cancel, say) while this
		// Run, still holding the lease, ran calls: their results go in
		// after what it wrote, so that no finished call looks unknown.
		err = r.mergeResults(ctx, b)
	}
	if err != nil {
		// b.next may share slices with r.state, so the in-memory state is
		// no longer trusted: the run must be loaded again.
		r.lost, r.encBuf = b, nil // b.data stays b's
		r.broken = fmt.Errorf("%w: run %s: %w", ErrRunBroken, r.ID(), err)
		return r.broken
	}
	r.state = b.next
	if !r.mark.IsZero() {
		r.mark = b.now
	}
	if r.a.obs != nil {
		s := &r.state
		r.observe(ctx, Event{Kind: EventCheckpoint, Time: b.now, Step: s.Step, Status: s.Status, Seq: s.Seq, Records: len(b.recs)})
		r.statusEvent(ctx, before, s.Status)
		r.budgetWarnings(ctx)
	}
	if r.step != nil {
		r.step.Records = append(r.step.Records, b.recs...)
	}
	// Snapshots are taken between steps' calls, never while a step's calls
	// are open: a response with many calls would copy them all each time.
	if r.state.Seq-r.state.SnapshotSeq >= uint64(r.a.cfg.SnapshotEvery) && r.state.Calls == nil &&
		r.state.Seq >= r.noSnapshotUntil && b.recs[len(b.recs)-1].Kind != RecSnapshot {
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

// mergeResults appends b's records, tool results whose append found that
// another writer had appended first (store.ErrConflict), after what that
// writer appended, if this Run still holds the run's lease: operators'
// verbs (CancelRun, RetryRun, AnswerRun) append without the lease, and must
// not make a finished call of the lease holder look unknown. On success
// b.next is the state after them (loaded from the store), and a run that
// the other writer ended has its step cancelled. It returns
// store.ErrConflict when the lease was lost or the results no longer apply.
func (r *Run) mergeResults(ctx context.Context, b *batch) error {
	st := r.a.cfg.Store
	ctx = context.WithoutCancel(ctx)
	var err error
	for range externalAppendAttempts {
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
		data := make([][]byte, len(b.recs))
		for i, rec := range b.recs {
			rec.Seq = next.Seq + 1
			if aerr := next.Apply(rec); aerr != nil {
				return fmt.Errorf("%w: %w", store.ErrConflict, aerr)
			}
			if data[i], err = appendEncodedRecord(nil, rec); err != nil {
				return err
			}
		}
		err = st.Append(ctx, store.Batch{RunID: r.ID(), Expected: next.Seq - uint64(len(b.recs)), Records: data, Meta: runMeta(&next), Fence: r.fence})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		b.next = next
		if next.Status != StatusRunning && r.stepCancel != nil {
			r.stepCancel(fmt.Errorf("ratchet: run %s is %s", r.ID(), next.Status))
		}
		return nil
	}
	return err
}

// appendSnapshot appends a snapshot of the state, bounded in size (see
// SnapshotMaxBytes), between steps.
func (r *Run) appendSnapshot(ctx context.Context) error {
	rec := r.snapshotRecord()
	if rec == nil {
		r.noSnapshotUntil = r.state.Seq + uint64(r.a.cfg.SnapshotEvery)
		return nil
	}
	return r.appendQuiet(ctx, rec)
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

// appendStarting appends rec, the model_responded record of a step whose
// only call, c, can start (canStartAlone), and in the same batch that
// call's tool_started when the budgets let it start (then r.preCall holds
// its records; the call started at its tool_started's time). One batch,
// not two: the response and the start are persisted before the call runs
// either way, and a crash finds both or neither.
func (r *Run) appendStarting(ctx context.Context, rec *Record, c *ToolCall) error {
	b, err := r.newBatch(r.a.cfg.Clock.Now())
	if err != nil {
		return err
	}
	if red := r.a.cfg.Redactor; red != nil {
		rec = redactRecord(red, rec)
	}
	if err := r.stage(b, rec); err != nil {
		return err
	}
	var pc *callRecs
	if ctx.Err() == nil && r.callBudgets(&b.next, 1) == nil {
		pc = new(callRecs)
		step := b.next.Step
		pc.reset(&callJob{step: step, key: idempotencyKey(r.ID(), step, 0), call: *c, attempt: 1})
		if err := r.stage(b, &pc.started); err != nil { // a tool_started has nothing to redact
			return err
		}
	}
	if err := r.commit(ctx, b); err != nil {
		return err
	}
	r.preCall = pc
	return nil
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
