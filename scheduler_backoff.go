package ratchet

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"math"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// Defaults of StoreFailurePolicy.
const (
	StoreBackoffInitialDelayDefault = time.Second
	StoreBackoffMaxDelayDefault     = 5 * time.Minute
	StoreBackoffJitterDefault       = 0.5
	StoreMaxFailuresDefault         = 5
	StoreCircuitFailuresDefault     = 3
)

// StoreFailurePolicy says how a Scheduler backs off from store failures
// (see ClassifyStoreError). The zero value is the default policy.
//
// Per run: after its nth consecutive failure of one kind, a run is not
// stepped again for min(MaxDelay, InitialDelay × 2^(n-1)) reduced by a
// random fraction of up to Jitter: by default [0.5s, 1s], [1s, 2s],
// [2s, 4s], ... up to [2.5m, 5m]. A permanent failure (a record too large,
// a corrupt log, a record that cannot be encoded or decoded) pauses the run
// at once; MaxFailures consecutive transient failures of one kind, while
// the store's circuit is closed, pause it too. The pause record (run_paused)
// carries the failure as an ErrorInfo of kind "store:KIND" (a *StoreError's
// message); the run's observer sees it (EventRunSuspended), `ratchet runs
// -status paused` lists it, and RetryRun (`ratchet retry`) resumes it.
// (A record of a newer format version never pauses a run: newer code
// continues it. A failure that is not the store's, an error a step returned
// with the run still running, backs the run off without pausing it.)
//
// Store-wide: CircuitFailures consecutive transient write failures, of
// any runs, open the store's circuit: no run is stepped, so no model is
// called, until a probe succeeds. The probe is one write, fenced under the
// lease of one run that needs work: its lost spend (see below) if it has
// one, otherwise an append of no records (the run's index entry written
// again, unchanged). Probes are spaced by the same backoff schedule, over
// the failed probes. Once one succeeds the circuit closes and every run held
// back by it, or by a transient failure, is looked at again at once.
//
// A run that failed steps again only after such a write of its own has
// succeeded: while the store fails, a run makes at most one model call
// (the one whose response could not be persisted) and, once the circuit is
// open, none. The spend of that call (its usage and cost, which the run's
// log does not hold) is kept by the Scheduler, in memory, and written to
// the run as a usage record (RecUsage) before the run steps again, so that
// the run's persisted totals and budgets count every call made. (A spend
// still held when the Scheduler stops is lost with it.)
type StoreFailurePolicy struct {
	// InitialDelay is the backoff after a first failure. Defaults to 1s
	// (StoreBackoffInitialDelayDefault).
	InitialDelay time.Duration
	// MaxDelay caps the backoff. Defaults to 5m
	// (StoreBackoffMaxDelayDefault).
	MaxDelay time.Duration
	// Jitter is the largest random fraction taken off a delay. Defaults
	// to 0.5 (StoreBackoffJitterDefault); negative disables jitter.
	Jitter float64
	// MaxFailures is how many consecutive transient failures of one kind
	// pause a run. Defaults to 5 (StoreMaxFailuresDefault); negative never
	// pauses a run for transient failures.
	MaxFailures int
	// CircuitFailures is how many consecutive transient write failures
	// open the store's circuit. Defaults to 3
	// (StoreCircuitFailuresDefault); negative never opens it.
	CircuitFailures int
}

func (p StoreFailurePolicy) withDefaults() StoreFailurePolicy {
	p.InitialDelay = cmp.Or(p.InitialDelay, StoreBackoffInitialDelayDefault)
	p.MaxDelay = cmp.Or(p.MaxDelay, StoreBackoffMaxDelayDefault)
	p.Jitter = cmp.Or(p.Jitter, StoreBackoffJitterDefault)
	p.MaxFailures = cmp.Or(p.MaxFailures, StoreMaxFailuresDefault)
	p.CircuitFailures = cmp.Or(p.CircuitFailures, StoreCircuitFailuresDefault)
	return p
}

// Delay returns the backoff after the nth consecutive failure (n ≥ 1),
// with rnd, in [0, 1), drawing the jitter. p's zero fields mean their
// defaults.
func (p StoreFailurePolicy) Delay(n int, rnd float64) time.Duration {
	p = p.withDefaults()
	d := float64(p.InitialDelay) * math.Pow(2, float64(max(n, 1)-1))
	d = min(d, float64(p.MaxDelay))
	if p.Jitter > 0 {
		d -= d * min(p.Jitter, 1) * rnd
	}
	return time.Duration(d)
}

// runBackoff is what a Scheduler remembers of a run whose store failed it
// (guarded by the Scheduler's mu). A run held back only by the open
// circuit has one too, with no failures.
type runBackoff struct {
	agent string
	// kind and fails are the kind and count of the run's consecutive
	// failures; kind "" for failures that are not the store's.
	kind  StoreErrorKind
	fails int
	// until is when the run is looked at again.
	until time.Time
	// spend is the spend of model calls the run's log lacks.
	spend *lostSpend
	// pause, when not nil, is the pause the run is due.
	pause *ErrorInfo
	// probe is set while the run is queued or stepped as the circuit's
	// probe.
	probe bool
}

// storeCircuit is the store-wide circuit (guarded by the Scheduler's mu;
// writeFails and open are atomics so that workers read them lock-free).
type storeCircuit struct {
	probes  int       // failed probes since it opened
	probeAt time.Time // when the next probe is due
	probing bool      // a probe is queued or running
}

// lostSpend is a batch of records whose append failed, and the spend of
// the model response it holds, if any: the call was paid for, the log does
// not say so.
type lostSpend struct {
	usage Usage
	cost  float64
	model string
	// seq is the run's last sequence before the failed batch, and batch
	// its records as encoded. While the log still ends at seq, the batch
	// (but its tool_started records: those calls did not start) is written
	// again before the run steps, so that neither the model call nor a
	// finished tool call is made again. Should the batch have been written
	// after all (a lost acknowledgement), the log holds its first record
	// at seq+1 and the spend is not written again. batch is nil once
	// spends were added up.
	seq   uint64
	batch [][]byte
}

// owes reports whether sp holds something to write: a spend or a batch.
func (sp *lostSpend) owes() bool {
	return sp != nil && (sp.usage != (Usage{}) || sp.cost != 0 || sp.batch != nil)
}

// lostSpendOf returns the batch whose append broke r, with its spend, or
// nil.
//
// It reads the batch the Run kept when its append failed (Run.lost: its
// encoded records and the state they led to, against the last persisted).
func lostSpendOf(r *Run) *lostSpend {
	if r == nil || r.broken == nil || r.lost == nil {
		return nil
	}
	b := r.lost
	sp := &lostSpend{seq: r.state.Seq}
	for _, d := range b.data {
		sp.batch = append(sp.batch, bytes.Clone(d))
	}
	if b.next.Step <= r.state.Step {
		return sp // no model response in it
	}
	n, p := b.next.Usage, r.state.Usage
	sp.usage = Usage{
		InputTokens:       n.InputTokens - p.InputTokens,
		CachedInputTokens: n.CachedInputTokens - p.CachedInputTokens,
		OutputTokens:      n.OutputTokens - p.OutputTokens,
		ReasoningTokens:   n.ReasoningTokens - p.ReasoningTokens,
	}
	sp.cost = b.next.CostUSD - r.state.CostUSD
	if rec := b.recs[0]; rec.Kind == RecModelResponded && rec.Response != nil {
		sp.model = rec.Response.Model
	}
	return sp
}

// replay returns the records of sp's batch to write again to r, whose log
// ends where it did when the batch failed, or nil.
func (sp *lostSpend) replay(r *Run) []*Record {
	if sp.batch == nil || r.state.Seq != sp.seq {
		return nil
	}
	var recs []*Record
	for i, d := range sp.batch {
		rec, err := DecodeRecord(sp.seq+uint64(i)+1, d)
		if err != nil {
			return nil
		}
		if rec.Kind != RecToolStarted && rec.Kind != RecSnapshot {
			recs = append(recs, rec)
		}
	}
	return recs
}

// add returns the sum of sp and o (either may be nil).
func (sp *lostSpend) add(o *lostSpend) *lostSpend {
	if sp == nil || o == nil {
		return cmp.Or(sp, o)
	}
	return &lostSpend{usage: sp.usage.Add(o.usage), cost: sp.cost + o.cost, model: cmp.Or(sp.model, o.model)}
}

// inLog reports whether r's log (r just loaded) holds sp's batch.
func (s *Scheduler) inLog(ctx context.Context, r *Run, sp *lostSpend) (bool, error) {
	if sp.batch == nil || r.state.Seq <= sp.seq {
		return false, nil
	}
	recs, err := s.cfg.Store.Read(ctx, r.ID(), sp.seq+1)
	if err != nil {
		return false, err
	}
	return len(recs) > 0 && recs[0].Seq == sp.seq+1 && bytes.Equal(recs[0].Data, sp.batch[0]), nil
}

// StoreCircuitOpen reports whether the store's circuit is open: appends
// kept failing for transient reasons, and no run is stepped (no model is
// called) until a probe succeeds (see StoreFailurePolicy). A health check
// can report it.
func (s *Scheduler) StoreCircuitOpen() bool { return s.circuitOpen.Load() }

// delayLocked is the backoff after the nth failure.
func (s *Scheduler) delayLocked(n int) time.Duration {
	return s.cfg.StoreFailures.Delay(n, s.rnd())
}

// holdLocked reports whether run id (of agent) must wait before a worker
// takes it: while the store's circuit is open (it then remembers the run),
// or while the run backs off.
func (s *Scheduler) holdLocked(id, agent string) bool {
	e := s.backoff[id]
	if s.circuitOpen.Load() {
		if e == nil {
			s.backoff[id] = &runBackoff{agent: agent}
		}
		return true
	}
	return e != nil && s.cfg.Clock.Now().Before(e.until)
}

// backoffDue queues the runs whose backoff is over, or the circuit's
// probe when it is due, and returns when it next needs to (zero: no
// need).
func (s *Scheduler) backoffDue(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.backoff) == 0 || s.stopping {
		return time.Time{}
	}
	if s.circuitOpen.Load() {
		c := &s.circuit
		if c.probing {
			return time.Time{}
		}
		if now.Before(c.probeAt) {
			return c.probeAt
		}
		var pick string
		var pe *runBackoff
		for id, e := range s.backoff {
			if _, busy := s.runs[id]; busy {
				continue
			}
			if pe == nil || e.spend != nil && pe.spend == nil {
				pick, pe = id, e
			}
		}
		if pe != nil {
			c.probing, pe.probe = true, true
			s.enqueueLocked(pick, pe.agent, nil)
		}
		return time.Time{}
	}
	var next time.Time
	for id, e := range s.backoff {
		if now.Before(e.until) {
			if next.IsZero() || e.until.Before(next) {
				next = e.until
			}
			continue
		}
		if _, busy := s.runs[id]; !busy {
			s.enqueueLocked(id, e.agent, nil)
		}
	}
	return next
}

// storeFailed records a failure, err, of run id met by its worker while
// doing op (r is the run as the worker has it, or nil): the run backs off,
// a transient write failure counts for the circuit, and the run is due a
// pause when its failures call for one. With settle set, a due pause is
// written at once (the worker still holds the lease).
func (s *Scheduler) storeFailed(ctx context.Context, id string, sr *schedRun, sa *schedAgent, r *Run, op string, err error, settle bool) {
	kind := ClassifyStoreError(err)
	if kind == "" {
		switch {
		case errors.Is(err, store.ErrNotFound):
			s.forget(id) // deleted
			return
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrLeased), errors.Is(err, context.Canceled):
			return // a lost race or a stop, not a failure
		}
	}
	sp := lostSpendOf(r)
	pol := s.cfg.StoreFailures
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	e := s.backoff[id]
	if e == nil {
		e = &runBackoff{agent: sr.agent}
		s.backoff[id] = e
	}
	e.spend = e.spend.add(sp)
	if kind != e.kind {
		e.kind, e.fails = kind, 0
	}
	write := op != "load"
	if !s.circuitOpen.Load() || !kind.Transient() {
		// Failures while the circuit is open are the store's, not the
		// run's: they count for the circuit only.
		e.fails++
		if kind.Transient() && write && s.writeFails.Add(1) >= int64(pol.CircuitFailures) && pol.CircuitFailures > 0 {
			s.circuitOpen.Store(true)
			s.circuit = storeCircuit{probeAt: now.Add(s.delayLocked(1))}
		}
	}
	se := &StoreError{Kind: kind, Op: op, RunID: id, Failures: e.fails, Err: err}
	switch {
	case kind == "" || kind == StoreUnsupportedFormat:
	case !kind.Transient(), pol.MaxFailures > 0 && e.fails >= pol.MaxFailures:
		e.pause = se.errorInfo()
	}
	e.until = now.Add(s.delayLocked(max(e.fails, 1)))
	pause := e.pause != nil
	s.mu.Unlock()
	s.poke()
	s.logError("store failure", id, se)
	if pause && settle {
		if r2 := s.reload(ctx, sa, id, sr); r2 != nil {
			s.settle(ctx, id, sr, sa, r2)
		} else {
			s.pauseUnloaded(ctx, id, sr, sa)
		}
	}
}

// settle does the write a run that failed owes before it steps again (r
// just loaded, under the worker's lease): its failed batch again, while
// the log ends where it did (so that no model call and no finished tool
// call is made again), or else the spend of that batch's model response
// (a usage record); its due pause; or, owing nothing, a probe append of no
// records. It returns r when the run may step, nil otherwise (a write
// failed, or the run is paused now).
func (s *Scheduler) settle(ctx context.Context, id string, sr *schedRun, sa *schedAgent, r *Run) *Run {
	s.mu.Lock()
	e := s.backoff[id]
	var sp *lostSpend
	var pause *ErrorInfo
	if e != nil {
		sp, pause = e.spend, e.pause
	}
	s.mu.Unlock()
	if sp != nil {
		replayed := false
		// A run due a pause does not write its batch again: that may be
		// what fails (too large, say).
		if recs := sp.replay(r); recs != nil && pause == nil {
			err := r.append(ctx, recs...)
			if err != nil && r.broken != nil {
				s.storeFailed(ctx, id, sr, sa, nil, "replay", err, false)
				return nil
			}
			// (Not broken: the batch no longer fits the run, and was not
			// written; its spend is.)
			replayed = err == nil
		}
		if !replayed && (sp.usage != (Usage{}) || sp.cost != 0) {
			in, err := s.inLog(ctx, r, sp)
			if err != nil {
				s.storeFailed(ctx, id, sr, sa, nil, "load", err, false)
				return nil
			}
			if !in {
				rec := &Record{Kind: RecUsage, Step: r.state.Step, Response: &Response{Usage: sp.usage, Model: sp.model}, CostUSD: sp.cost}
				if err := r.append(ctx, rec); err != nil {
					s.storeFailed(ctx, id, sr, sa, nil, "usage", err, false)
					return nil
				}
			}
		}
	}
	var err error
	op := "probe"
	switch {
	case pause != nil && r.state.Status == StatusRunning:
		op = "pause"
		err = r.append(ctx, &Record{Kind: RecRunPaused, Step: r.state.Step, Error: pause})
	case pause != nil:
		// No longer running (an operator paused or cancelled it, say):
		// it needs no pause.
	case sp == nil:
		err = s.cfg.Store.Append(ctx, store.Batch{RunID: id, Expected: r.state.Seq, Meta: runMeta(&r.state), Fence: r.fence})
	}
	if err != nil {
		s.storeWorks(id, sp, false, false)
		s.storeFailed(ctx, id, sr, sa, r, op, err, false)
		return nil
	}
	steps := pause == nil && r.state.Status == StatusRunning
	s.storeWorks(id, sp, pause != nil, !steps)
	if !steps && pause != nil {
		return nil
	}
	return r
}

// storeWorks records a successful write for run id: its spend sp was
// written (or found in the log, or replayed), and its pause if paused.
// With closing set, an open circuit closes; otherwise it is half open: the
// probe's run steps, and only a step that goes through closes it (see
// stepped), as a small write may succeed on a disk too full for a step's.
func (s *Scheduler) storeWorks(id string, sp *lostSpend, paused, closing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.backoff[id]; e != nil {
		if e.spend == sp {
			e.spend = nil
		}
		if paused {
			delete(s.backoff, id)
		}
	}
	if closing {
		s.closeCircuitLocked()
	}
}

// closeCircuitLocked closes the circuit, if open: every run held back by it
// or by a transient failure is looked at again at once.
func (s *Scheduler) closeCircuitLocked() {
	s.writeFails.Store(0)
	if !s.circuitOpen.Load() {
		return
	}
	s.circuitOpen.Store(false)
	s.circuit = storeCircuit{}
	now := s.cfg.Clock.Now()
	for _, e := range s.backoff {
		if e.kind == "" || e.kind.Transient() {
			e.until = now
		}
	}
	s.poke()
}

// stepped records that run id, which had failed, took a step: its failures
// are over.
func (s *Scheduler) stepped(id string, sr *schedRun) {
	s.mu.Lock()
	if e := s.backoff[id]; e != nil && e.spend == nil && e.pause == nil {
		delete(s.backoff, id)
	}
	sr.failed, sr.probe = false, false
	s.closeCircuitLocked()
	s.mu.Unlock()
}

// forget drops what the scheduler remembers of run id's failures (the run
// is gone, or has ended with nothing owed).
func (s *Scheduler) forget(id string) {
	s.mu.Lock()
	delete(s.backoff, id)
	s.mu.Unlock()
}

// afterWorkLocked reschedules run id's backoff once its worker let it go:
// a probe that did not close the circuit is a failed probe, and a run
// whose backoff was over (its worker could not lease it, say) waits again.
func (s *Scheduler) afterWorkLocked(id string) {
	e := s.backoff[id]
	if e == nil {
		return
	}
	now := s.cfg.Clock.Now()
	if e.probe {
		e.probe = false
		if c := &s.circuit; c.probing && s.circuitOpen.Load() {
			c.probing = false
			c.probes++
			c.probeAt = now.Add(s.delayLocked(c.probes + 1))
		}
	}
	if !now.Before(e.until) && !s.circuitOpen.Load() {
		e.until = now.Add(s.delayLocked(max(e.fails, 1)))
	}
	s.poke() // the loop's next wake-up may have changed
}

// pauseUnloaded pauses run id, which cannot be loaded (its log is
// corrupt, say) and is due a pause, under the worker's lease: it appends
// run_paused after the run's last record and sets its index status to
// paused, so that the poll leaves it to an operator.
func (s *Scheduler) pauseUnloaded(ctx context.Context, id string, sr *schedRun, sa *schedAgent) {
	s.mu.Lock()
	var pause *ErrorInfo
	if e := s.backoff[id]; e != nil {
		pause = e.pause
	}
	fence := sr.lease.Token
	s.mu.Unlock()
	if pause == nil {
		return
	}
	info, err := s.cfg.Store.Get(ctx, id)
	if err != nil || Status(info.Status) != StatusRunning {
		return
	}
	now := s.cfg.Clock.Now()
	data, err := EncodeRecord(&Record{Version: FormatVersion, Kind: RecRunPaused, Time: now, Step: int(info.Totals.Steps), Error: pause})
	if err != nil {
		return
	}
	meta := info.Meta
	meta.Status, meta.UpdatedAt, meta.WakeAt = string(StatusPaused), now, time.Time{}
	if err := s.cfg.Store.Append(ctx, store.Batch{RunID: id, Expected: info.LastSeq, Records: [][]byte{data}, Meta: meta, Fence: fence}); err != nil {
		s.logError("pause", id, err)
		return
	}
	s.forget(id)
	if obs := sa.a.obs; obs != nil {
		obs.Observe(ctx, Event{Kind: EventRunSuspended, Time: now, RunID: id, Agent: sa.a.Name(), Step: int(info.Totals.Steps),
			Status: StatusPaused, Err: sa.a.eventErr(pause)})
	}
}
