package ratchet

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ratchet-run/ratchet/store"
)

// BusyPolicy is what Scheduler.Send does with an event for a run that is
// busy stepping.
type BusyPolicy string

// The busy policies.
const (
	// BusyEnqueue queues the event for the run's next step.
	BusyEnqueue BusyPolicy = "enqueue"
	// BusyReject refuses the event with ErrRunBusy.
	BusyReject BusyPolicy = "reject"
	// BusyInterrupt cancels the step in progress (the run stays
	// consistent: open calls resume by their policies) and delivers the
	// event before the next one.
	BusyInterrupt BusyPolicy = "interrupt"
)

// errRetrySend tells Send that the worker let go of the run before
// delivering its event.
var errRetrySend = errors.New("ratchet: run left the worker; send again")

// errStepInterrupted is the cause of a step cancelled by BusyInterrupt.
var errStepInterrupted = errors.New("ratchet: step interrupted by an event")

// inboxItem is an event handed to the worker stepping a run.
type inboxItem struct {
	ev   RunEvent
	done chan error
}

// checkpoint does the work due between two steps of a leased run: it
// applies the defaults of interrupts past their deadline (and wakes
// sleeping calls), and persists the events sent meanwhile, in order: first
// those of the run's store inbox (sent while the run was held elsewhere or
// by another process), then those queued in memory.
func (s *Scheduler) checkpoint(ctx context.Context, r *Run, sr *schedRun) error {
	if recs := dueAnswers(&r.state, s.cfg.Clock.Now()); len(recs) > 0 {
		if err := r.append(ctx, recs...); err != nil {
			return err
		}
	}
	if sr.inboxID == "" {
		sr.inboxID = inboxID(r.ID())
	}
	if err := s.drainInbox(ctx, r.ID(), sr.inboxID, func() *State { return &r.state }, func(rec *Record) error {
		return r.append(ctx, rec)
	}); err != nil {
		return err
	}
	sr.mu.Lock()
	inbox := sr.inbox
	sr.inbox = nil
	sr.mu.Unlock()
	for i, it := range inbox {
		var err error
		if r.state.Status.Ended() {
			// Sent while the run took its last step: nothing reads it.
			err = fmt.Errorf("%w: run %s %s", ErrRunEnded, r.ID(), r.state.Status)
			it.done <- err
			continue
		}
		err = r.append(ctx, eventRecord(&r.state, it.ev))
		it.done <- err
		if err != nil {
			for _, rest := range inbox[i+1:] {
				rest.done <- errRetrySend
			}
			return err
		}
	}
	return nil
}

// eventRecord is the record delivering ev to a run in state st: the answer
// of an interrupt waiting for it, or an event_received.
func eventRecord(st *State, ev RunEvent) *Record {
	i := slices.IndexFunc(st.Interrupts, func(p PendingInterrupt) bool { return p.Kind == InterruptEvent && p.Event == ev.Name })
	if i >= 0 {
		data := ev.Data
		if data == nil {
			data = []byte(`""`)
		}
		p := st.Interrupts[i]
		return &Record{Kind: RecAnswered, Step: p.Step, Answer: &AnswerRecord{ID: p.ID, Answer: Answer{Value: data}}}
	}
	return &Record{Kind: RecEventReceived, Step: st.Step, Event: &ev}
}

// Answer answers a pending interrupt of a run (see AnswerRun) and queues
// the run, if it can go on, for a worker of this scheduler; a scheduler in
// another process finds it at its next poll. It returns
// ErrAlreadyAnswered when the interrupt was answered before: the second
// answer changes nothing. The answer is checked as given and persisted
// passed through the Redactor of the run's agent, if registered with s.
func (s *Scheduler) Answer(ctx context.Context, runID, interruptID string, ans Answer) error {
	if err := store.ValidateID(runID); err != nil {
		return fmt.Errorf("ratchet: answer: %w", err)
	}
	red, err := s.runRedactor(ctx, runID)
	if err != nil {
		return err
	}
	if err := answerRun(ctx, s.cfg.Store, s.cfg.Clock, runID, interruptID, ans, red); err != nil {
		return err
	}
	s.notifyStored(ctx, runID)
	return nil
}

func (s *Scheduler) notifyStored(ctx context.Context, runID string) {
	if info, err := s.cfg.Store.Get(ctx, runID); err == nil && info.Status == string(StatusRunning) {
		s.notify(runID, info.Agent)
	}
}

// Send delivers ev to a run: to a tool waiting for it (WaitForEvent), or
// as a user message before the run's next model call. Events sent by one
// goroutine are delivered in the order sent, each exactly once, and are
// persisted before Send returns nil:
//
//   - For a run a worker of this scheduler is stepping, the agent's OnBusy
//     decides: enqueue (persisted at the step's end, before Send returns),
//     reject (ErrRunBusy), or interrupt the step.
//   - For a run another owner holds (a scheduler in another process), the
//     event is appended to the run's store inbox (a store run of agent InboxAgent) and Send
//     returns; the owner delivers it at its next checkpoint, whatever the
//     agent's OnBusy. Should the run end first, the event is dropped.
//   - Otherwise Send appends the event to the run itself, under a short
//     lease, after any events still in its inbox.
//
// The event's name and data are passed through the Redactor of the run's
// agent, if registered with s, before they are persisted anywhere. It
// returns ErrRunEnded for a run that has ended.
func (s *Scheduler) Send(ctx context.Context, runID string, ev RunEvent) error {
	if err := store.ValidateID(runID); err != nil {
		return fmt.Errorf("ratchet: send: %w", err)
	}
	ev, err := s.redactSend(ctx, runID, ev)
	if err != nil {
		return err
	}
	for {
		s.mu.Lock()
		sr, ok := s.runs[runID]
		if ok && sr.running && sr.lease.Owner != "" {
			onBusy := s.agents[sr.agent].opts.OnBusy
			if onBusy == BusyReject {
				s.mu.Unlock()
				return fmt.Errorf("%w: run %s", ErrRunBusy, runID)
			}
			it := inboxItem{ev: ev, done: make(chan error, 1)}
			sr.mu.Lock()
			if onBusy == BusyInterrupt && sr.stepCancel != nil {
				sr.stepCancel(errStepInterrupted)
			}
			sr.inbox = append(sr.inbox, it)
			sr.mu.Unlock()
			s.mu.Unlock()
			select {
			case err := <-it.done:
				if errors.Is(err, errRetrySend) {
					continue
				}
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		s.mu.Unlock()
		err := s.sendExternal(ctx, runID, &ev)
		switch {
		case errors.Is(err, store.ErrConflict):
			continue
		case errors.Is(err, store.ErrLeased):
			return s.sendInbox(ctx, runID, ev)
		}
		return err
	}
}

// sendExternal delivers the events of the store inbox of a run nobody
// steps, then ev unless it is nil, under a short lease of its own so that
// no worker steps the run meanwhile. Once it has let the run go, it looks
// again for events put in the inbox while it held the lease. It returns an
// error wrapping store.ErrLeased when another owner holds the run.
func (s *Scheduler) sendExternal(ctx context.Context, runID string, ev *RunEvent) error {
	owner := s.cfg.Owner + "/send"
	for {
		now := s.cfg.Clock.Now()
		lease, err := s.leases.AcquireLease(ctx, runID, owner, now, now.Add(s.cfg.LeaseTTL))
		if err != nil {
			return fmt.Errorf("ratchet: send to run %s: %w", runID, err)
		}
		next, err := s.deliverLeased(ctx, runID, lease.Token, ev)
		if rerr := s.leases.ReleaseLease(context.WithoutCancel(ctx), runID, lease); rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			return err
		}
		if next.Status == StatusRunning {
			s.notify(runID, next.Agent)
		}
		if !s.inboxWaiting(ctx, runID, next.InboxSeq) {
			return nil
		}
		ev = nil
	}
}

// deliverLeased appends the events of the run's inbox and then ev (unless
// nil) to a run leased with token fence, and returns the run's state.
func (s *Scheduler) deliverLeased(ctx context.Context, runID string, fence uint64, ev *RunEvent) (State, error) {
	st, err := LoadState(ctx, s.cfg.Store, runID)
	if err != nil {
		return State{}, err
	}
	err = s.drainInbox(ctx, runID, "", func() *State { return &st }, func(rec *Record) error {
		next, err := appendAfter(ctx, s.cfg.Store, s.cfg.Clock, &st, rec, fence)
		if err == nil {
			st = next
		}
		return err
	})
	if err != nil || ev == nil {
		return st, err
	}
	if st.Status.Ended() {
		return State{}, fmt.Errorf("%w: run %s %s", ErrRunEnded, runID, st.Status)
	}
	return appendAfter(ctx, s.cfg.Store, s.cfg.Clock, &st, eventRecord(&st, *ev), fence)
}
