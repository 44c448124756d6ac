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

// ErrRunBusy is returned by Send for a busy run of an agent whose OnBusy is
// BusyReject, or for a run another process is stepping.
var ErrRunBusy = errors.New("ratchet: run is busy")

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
// sleeping calls), and persists the events sent meanwhile, in order.
func (s *Scheduler) checkpoint(ctx context.Context, r *Run, sr *schedRun) error {
	if recs := dueAnswers(&r.state, s.cfg.Clock.Now()); len(recs) > 0 {
		if err := r.append(ctx, recs...); err != nil {
			return err
		}
	}
	s.mu.Lock()
	inbox := sr.inbox
	sr.inbox = nil
	s.mu.Unlock()
	for i, it := range inbox {
		err := r.append(ctx, eventRecord(&r.state, it.ev))
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
// answer changes nothing.
func (s *Scheduler) Answer(ctx context.Context, runID, interruptID string, ans Answer) error {
	if err := AnswerRun(ctx, s.cfg.Store, s.cfg.Clock, runID, interruptID, ans); err != nil {
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
// as a user message before the run's next model call. Events are persisted
// before Send returns nil and are delivered in the order sent. For a run a
// worker of this scheduler is stepping, the agent's OnBusy decides:
// enqueue (persisted at the step's end), reject (ErrRunBusy), or interrupt
// the step. A run another process is stepping gets ErrRunBusy. It returns
// ErrRunEnded for a run that has ended.
func (s *Scheduler) Send(ctx context.Context, runID string, ev RunEvent) error {
	for {
		s.mu.Lock()
		sr, ok := s.runs[runID]
		if ok && sr.running && sr.lease.Owner != "" {
			switch s.agents[sr.agent].opts.OnBusy {
			case BusyReject:
				s.mu.Unlock()
				return fmt.Errorf("%w: run %s", ErrRunBusy, runID)
			case BusyInterrupt:
				if sr.stepCancel != nil {
					sr.stepCancel(errStepInterrupted)
				}
			}
			it := inboxItem{ev: ev, done: make(chan error, 1)}
			sr.inbox = append(sr.inbox, it)
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
		err := s.sendExternal(ctx, runID, ev)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return err
	}
}

// sendExternal appends ev to a run nobody steps, under a short lease of
// its own so that no worker steps the run meanwhile.
func (s *Scheduler) sendExternal(ctx context.Context, runID string, ev RunEvent) error {
	owner := s.cfg.Owner + "/send"
	now := s.cfg.Clock.Now()
	lease, err := s.cfg.Store.AcquireLease(ctx, runID, owner, now, now.Add(s.cfg.LeaseTTL))
	if errors.Is(err, store.ErrLeased) {
		return fmt.Errorf("%w: run %s is stepped by another owner", ErrRunBusy, runID)
	}
	if err != nil {
		return fmt.Errorf("ratchet: send to run %s: %w", runID, err)
	}
	next, err := appendExternal(ctx, s.cfg.Store, s.cfg.Clock, runID, lease.Token, func(st *State) (*Record, error) {
		if st.Status.Ended() {
			return nil, fmt.Errorf("%w: run %s %s", ErrRunEnded, runID, st.Status)
		}
		return eventRecord(st, ev), nil
	})
	if rerr := s.cfg.Store.ReleaseLease(context.WithoutCancel(ctx), runID, lease); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	if next.Status == StatusRunning {
		s.notify(runID, next.Agent)
	}
	return nil
}
