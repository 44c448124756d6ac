package ratchet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// RunBusyError is returned by Agent.Start, Agent.Resume and Run.Step when
// another owner (another process, a Scheduler) holds a live lease on the
// run, or took the run's lease over from this Run. Nothing was written.
// It matches ErrRunBusy (errors.Is).
type RunBusyError struct {
	RunID string
	// Owner holds the lease until Expires (zero values when unknown).
	Owner   string
	Expires time.Time
	// Lost is set when this Run held the lease and another owner took it
	// over (this Run did not renew it in time: it was not stepped for
	// longer than Config.LeaseTTL, or its process was frozen).
	Lost bool
}

// Error returns `ratchet: run "ID" is busy: leased by "OWNER" until T`.
func (e *RunBusyError) Error() string {
	what := "is busy"
	if e.Lost {
		what = "lease lost"
	}
	msg := fmt.Sprintf("ratchet: run %s %s", store.QuoteID(e.RunID), what)
	if e.Owner != "" {
		msg += fmt.Sprintf(": leased by %s until %s", store.QuoteID(e.Owner), e.Expires.UTC().Format(time.RFC3339Nano))
	}
	return msg
}

// Is reports whether target is ErrRunBusy.
func (e *RunBusyError) Is(target error) bool { return target == ErrRunBusy }

// leaseHolder is the lease a Run holds on its own (Agent.Start and
// Agent.Resume): it is taken before anything is appended, renewed while a
// step runs and released when the run comes to rest. A Scheduler's runs
// have none: the Scheduler holds their leases (Run.fence). Nor do the Runs
// of an agent whose store is not a store.Leaser: there, one process per
// store is the application's part.
type leaseHolder struct {
	owner  string
	leases store.Leaser
	// mu guards lease and renewed: a step's renewal goroutine updates
	// them.
	mu      sync.Mutex
	lease   store.Lease // zero when not held
	renewed time.Time   // when lease was last acquired or renewed
}

// newLeaseHolder returns the lease holder of a new Run: under
// Config.Owner, or a name unique to the Run. It returns nil when the
// agent's store has no leases (is not a store.Leaser): the Run then takes
// none and fences nothing.
func (a *Agent) newLeaseHolder() *leaseHolder {
	ls, ok := a.cfg.Store.(store.Leaser)
	if !ok {
		return nil
	}
	return &leaseHolder{owner: cmp.Or(a.cfg.Owner, newOwner()), leases: ls}
}

// newOwner returns a lease owner name unique to one Run: the host, the
// process and a random part.
func newOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("run-%s-%d-%s", host, os.Getpid(), randomID()[:12])
}

// busy returns the *RunBusyError for run id, with the current holder.
func (r *Run) busy(ctx context.Context, lost bool) error {
	e := &RunBusyError{RunID: r.ID(), Lost: lost}
	if info, err := r.a.cfg.Store.Get(context.WithoutCancel(ctx), r.ID()); err == nil {
		e.Owner, e.Expires = info.Lease.Owner, info.Lease.Expires
	}
	return e
}

// acquireLease takes the run's lease for the Run's own owner; a live
// lease of another owner gives a *RunBusyError. A Run without a holder
// (a store without leases) takes none.
func (r *Run) acquireLease(ctx context.Context) error {
	h := r.own
	if h == nil {
		return nil
	}
	now := r.a.cfg.Clock.Now()
	l, err := h.leases.AcquireLease(ctx, r.ID(), h.owner, now, now.Add(r.a.cfg.LeaseTTL))
	if err != nil {
		if errors.Is(err, store.ErrLeased) {
			return r.busy(ctx, false)
		}
		return fmt.Errorf("ratchet: lease run %s: %w", r.ID(), err)
	}
	h.mu.Lock()
	h.lease, h.renewed = l, now
	h.mu.Unlock()
	r.fence = l.Token
	return nil
}

// holdLease makes sure, before a step, that the Run holds its lease: taken
// again if it was released, renewed if a third of its time has passed.
func (r *Run) holdLease(ctx context.Context) error {
	h := r.own
	h.mu.Lock()
	l, renewed := h.lease, h.renewed
	h.mu.Unlock()
	if l.Owner == "" {
		return r.acquireLease(ctx)
	}
	now := r.a.cfg.Clock.Now()
	if now.Sub(renewed) < r.a.cfg.LeaseTTL/3 {
		return nil
	}
	return r.renewLease(ctx, l, now)
}

// renewLease extends l, the Run's lease, from now.
func (r *Run) renewLease(ctx context.Context, l store.Lease, now time.Time) error {
	h := r.own
	nl, err := h.leases.RenewLease(context.WithoutCancel(ctx), r.ID(), l, now.Add(r.a.cfg.LeaseTTL))
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			h.mu.Lock()
			if h.lease == l {
				h.lease = store.Lease{}
			}
			h.mu.Unlock()
			return r.busy(ctx, true)
		}
		return fmt.Errorf("ratchet: renew the lease of run %s: %w", r.ID(), err)
	}
	h.mu.Lock()
	if h.lease == l {
		h.lease, h.renewed = nl, now
	}
	h.mu.Unlock()
	return nil
}

// keepLease renews the Run's lease every third of Config.LeaseTTL until
// the returned stop is called; a lease taken over cancels the step (cancel,
// with the *RunBusyError as its cause). It ticks on real time, not the
// Clock (a test's fake clock would count it among its waiters); the expiry
// is the Clock's.
func (r *Run) keepLease(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.a.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			h := r.own
			h.mu.Lock()
			l := h.lease
			h.mu.Unlock()
			if l.Owner == "" {
				return
			}
			if err := r.renewLease(ctx, l, r.a.cfg.Clock.Now()); err != nil {
				if _, lost := errors.AsType[*RunBusyError](err); lost {
					cancel(err)
					return
				}
				// A store error: the appends will tell; try again later.
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// releaseLease gives the Run's lease up, if it holds one.
func (r *Run) releaseLease(ctx context.Context) error {
	h := r.own
	if h == nil {
		return nil
	}
	h.mu.Lock()
	l := h.lease
	h.lease = store.Lease{}
	h.mu.Unlock()
	if l.Owner == "" {
		return nil
	}
	err := h.leases.ReleaseLease(context.WithoutCancel(ctx), r.ID(), l)
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("ratchet: release the lease of run %s: %w", r.ID(), err)
	}
	return nil
}

// Close releases the run's lease, if this Run holds it, so that another
// process or a Scheduler can step the run at once instead of after
// Config.LeaseTTL. A Run releases its lease by itself when the run comes to
// rest (it ends, waits, sleeps or pauses) and when Wait returns; call Close
// (or defer it) when you stop stepping a run that is still running. A
// later Step takes the lease again. Close is safe to call more than once.
func (r *Run) Close(ctx context.Context) error {
	return r.releaseLease(ctx)
}
