package ratchet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// Defaults of SchedulerConfig and AgentOptions.
const (
	WorkersDefault      = 100
	LeaseTTLDefault     = 30 * time.Second
	PollIntervalDefault = time.Second
)

// SchedulerConfig configures a Scheduler. The zero value of every optional
// field means its documented default.
type SchedulerConfig struct {
	// Store holds the runs the scheduler drives. Every registered agent
	// must use it. Required, and it must be a store.Leaser (the scheduler
	// leases every run it steps); with a Retention, a store.Deleter too.
	Store store.Store
	// Clock is the source of time for polling, leases, timers and
	// deadlines. Defaults to SystemClock().
	Clock Clock
	// Workers bounds the runs stepped at once by this scheduler. Defaults
	// to 100 (WorkersDefault).
	Workers int
	// LeaseTTL is how long a lease on an active run lasts; it is renewed
	// every LeaseTTL/3 while the run is active. A run whose owner died is
	// taken over once its lease expired. Defaults to 30s (LeaseTTLDefault).
	LeaseTTL time.Duration
	// PollInterval is how often the store is polled for runs that need
	// work (runs of dead owners, due timers, answered interrupts written by
	// other processes, events left in the inbox of a run whose owner died).
	// Defaults to 1s (PollIntervalDefault).
	PollInterval time.Duration
	// Owner names this scheduler in leases; it must be unique among the
	// schedulers sharing the store. Defaults to host-pid-random.
	Owner string
	// Logger receives errors of background work. Nil means silent.
	Logger *slog.Logger
	// Retention, when positive, makes the scheduler delete the runs of
	// its registered agents that ended (succeeded, failed or cancelled)
	// and were last updated longer than Retention ago, with their event
	// inboxes (DeleteRun). It looks every minute, or every
	// PollInterval if that is longer. Zero keeps every run. It needs a
	// Store that is a store.Deleter.
	Retention time.Duration
	// StoreFailures says how runs back off from store failures, when they
	// are paused for them, and when the store's circuit stops all model
	// calls. The zero value is the default policy (see
	// StoreFailurePolicy).
	StoreFailures StoreFailurePolicy
	// Random returns numbers in [0, 1) for the jitter of store failure
	// backoffs; it is called with the scheduler's lock held, by one
	// goroutine at a time. Defaults to a source of the scheduler's own,
	// seeded at random.
	Random func() float64
}

// retentionInterval is how often a Scheduler with a Retention deletes the
// runs past it (at least every PollInterval).
const retentionInterval = time.Minute

// AgentOptions are per-agent scheduling settings; nil means defaults.
type AgentOptions struct {
	// MaxConcurrent bounds the runs of the agent stepped at once by this
	// scheduler. Zero means no limit beyond SchedulerConfig.Workers.
	MaxConcurrent int
	// OnBusy is what Send does with a message for a run that is busy
	// stepping. Defaults to BusyEnqueue.
	OnBusy BusyPolicy
}

// Scheduler drives many runs over one Store with a bounded number of
// workers. Runs are registered by agent name: a run in the store names its
// agent, so any scheduler (in this process or another, days later) with
// that agent registered can continue it.
//
// Lifecycle: Register agents, then Start; StartRun, Answer and Send may be
// called from any goroutine. Stop drains gracefully, StopAndCancel cancels
// the steps in progress. A Scheduler is safe for concurrent use and runs
// once: it cannot be started again after it stopped.
//
// A Scheduler holds a run in memory only while it steps it: a run that
// waits (for an answer, an event or a time) lives only in the store.
type Scheduler struct {
	cfg SchedulerConfig
	// leases is cfg.Store's store.Leaser.
	leases store.Leaser

	mu       sync.Mutex
	agents   map[string]*schedAgent
	queue    []string // runs waiting for a worker, in order
	runs     map[string]*schedRun
	active   int
	started  bool
	stopping bool
	// stopFlag mirrors stopping for the workers' check between steps,
	// which takes no lock.
	stopFlag atomic.Bool
	workCtx  context.Context // cancelled by StopAndCancel and by a missed Stop deadline
	cancel   context.CancelFunc

	wake    chan struct{} // poke the loop (buffer 1)
	wg      sync.WaitGroup
	loopEnd chan struct{}
	stopped chan struct{}
	once    sync.Once

	// backoff holds the runs that store failures hold back, and circuit
	// the store-wide circuit (see StoreFailurePolicy), guarded by mu.
	// circuitOpen and writeFails (consecutive transient write failures)
	// are read by workers without the lock.
	backoff     map[string]*runBackoff
	circuit     storeCircuit
	circuitOpen atomic.Bool
	writeFails  atomic.Int64
	rnd         func() float64
}

// schedAgent is a registered agent and its counters (guarded by mu).
type schedAgent struct {
	a      *Agent
	opts   AgentOptions
	active int
}

// schedRun is a run this scheduler has queued or is stepping (guarded by
// the Scheduler's mu, except where noted).
type schedRun struct {
	agent   string
	running bool
	again   bool // notified while running: look again after
	lease   store.Lease
	cancel  context.CancelCauseFunc
	// mu guards stepCancel and inbox, which the worker touches at every
	// step: it takes this lock only, not the Scheduler's. Send takes it
	// while holding the Scheduler's.
	mu sync.Mutex
	// stepCancel cancels the step in progress (BusyInterrupt).
	stepCancel context.CancelCauseFunc
	inbox      []inboxItem // events for the next checkpoint
	// inboxID is inboxID of the run, once its worker needed it (used by
	// the worker only).
	inboxID string
	// started is the Run StartRun created, handed to the worker so that
	// it need not load the run back from the store.
	started *Run
	// failed is set while the run is stepped after a store failure, until
	// it took a step (guarded by the Scheduler's mu; read by its worker).
	failed bool
	// probe is set while the run is the store circuit's probe (likewise).
	probe bool
}

// NewScheduler validates cfg and returns a stopped Scheduler. A Store that
// is not a store.Leaser, or with a Retention not a store.Deleter, gives a
// *store.UnsupportedError (errors.ErrUnsupported).
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Store == nil {
		return nil, errors.New("ratchet: invalid scheduler config: no store")
	}
	leases, ok := cfg.Store.(store.Leaser)
	if !ok {
		return nil, store.NewUnsupportedError("ratchet: new scheduler", cfg.Store, "Leaser")
	}
	if _, ok := cfg.Store.(store.Deleter); !ok && cfg.Retention > 0 {
		return nil, store.NewUnsupportedError("ratchet: new scheduler: Retention", cfg.Store, "Deleter")
	}
	if cfg.Workers < 0 || cfg.LeaseTTL < 0 || cfg.PollInterval < 0 || cfg.Retention < 0 {
		return nil, errors.New("ratchet: invalid scheduler config: negative Workers, LeaseTTL, PollInterval or Retention")
	}
	if p := cfg.StoreFailures; p.InitialDelay < 0 || p.MaxDelay < 0 {
		return nil, errors.New("ratchet: invalid scheduler config: negative StoreFailures.InitialDelay or MaxDelay")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.Workers == 0 {
		cfg.Workers = WorkersDefault
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = LeaseTTLDefault
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = PollIntervalDefault
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomID()[:8])
	}
	cfg.StoreFailures = cfg.StoreFailures.withDefaults()
	rnd := cfg.Random
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())).Float64
	}
	return &Scheduler{
		cfg:     cfg,
		leases:  leases,
		backoff: make(map[string]*runBackoff),
		rnd:     rnd,
		agents:  make(map[string]*schedAgent),
		runs:    make(map[string]*schedRun),
		wake:    make(chan struct{}, 1),
		loopEnd: make(chan struct{}),
		stopped: make(chan struct{}),
	}, nil
}

// Owner returns the name this scheduler holds leases under.
func (s *Scheduler) Owner() string { return s.cfg.Owner }

// Register makes a's runs schedulable under a.Name(). a must use the
// scheduler's store. Registering a name twice is an error.
func (s *Scheduler) Register(a *Agent, opts *AgentOptions) error {
	if a.Name() == InboxAgent {
		return fmt.Errorf("ratchet: register %s: the name is reserved for inboxes", a.Name())
	}
	if a.Store() != s.cfg.Store {
		return fmt.Errorf("ratchet: register %s: the agent's store is not the scheduler's", a.Name())
	}
	var o AgentOptions
	if opts != nil {
		o = *opts
	}
	if o.OnBusy == "" {
		o.OnBusy = BusyEnqueue
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.agents[a.Name()]; dup {
		return fmt.Errorf("ratchet: register %s: already registered", a.Name())
	}
	s.agents[a.Name()] = &schedAgent{a: a, opts: o}
	return nil
}

// Start starts the scheduler's loop: it recovers runs that need work at
// once (runs of dead owners, due timers, answered interrupts) and then polls
// every PollInterval. ctx is used only for this call; the scheduler runs
// until Stop or StopAndCancel.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopping {
		return fmt.Errorf("%w: Start called twice", ErrSchedulerStopped)
	}
	s.started = true
	s.workCtx, s.cancel = context.WithCancel(context.Background())
	go s.loop()
	return nil
}

// Stop stops the scheduler gracefully: it takes no new work, lets every
// step in progress reach its checkpoint (the end of the step), releases the
// leases and returns. If ctx ends first, the steps in progress are
// cancelled (as by StopAndCancel; their runs stay consistent and resume
// elsewhere) and Stop returns ctx's error once they have returned.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.beginStop()
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.stopped
		return ctx.Err()
	}
}

// StopAndCancel stops the scheduler and cancels the steps in progress at
// once; their runs are left consistent (open calls resume by their
// policies). It waits for the workers to return, or for ctx.
func (s *Scheduler) StopAndCancel(ctx context.Context) error {
	s.beginStop()
	s.cancel()
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stopped returns a channel closed once the scheduler has stopped: its loop
// and every worker have returned.
func (s *Scheduler) Stopped() <-chan struct{} { return s.stopped }

func (s *Scheduler) beginStop() {
	s.once.Do(func() {
		s.mu.Lock()
		s.stopping = true
		s.stopFlag.Store(true)
		started := s.started
		s.queue = nil
		if s.cancel == nil {
			s.workCtx, s.cancel = context.WithCancel(context.Background())
		}
		s.mu.Unlock()
		s.poke()
		go func() {
			if started {
				<-s.loopEnd
			}
			s.wg.Wait()
			s.cancel()
			close(s.stopped)
		}()
	})
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// StartRun starts a run of the registered agent now: it persists the run
// (see Agent.Start) and queues it for a worker. It returns the run's ID.
func (s *Scheduler) StartRun(ctx context.Context, agent, input string, opts *RunOptions) (string, error) {
	s.mu.Lock()
	sa, ok := s.agents[agent]
	stopping := s.stopping
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownAgent, agent)
	}
	if stopping {
		return "", ErrSchedulerStopped
	}
	r, err := sa.a.start(ctx, input, opts)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.notifyRunLocked(r.ID(), agent, r)
	s.mu.Unlock()
	return r.ID(), nil
}

// notify queues runID (of agent) for a worker, or marks it to be looked at
// again if a worker has it.
func (s *Scheduler) notify(runID, agent string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifyLocked(runID, agent)
}

func (s *Scheduler) notifyLocked(runID, agent string) {
	s.notifyRunLocked(runID, agent, nil)
}

// notifyRunLocked is notifyLocked for a run StartRun has just created as
// started (nil otherwise): it is handed to the worker, set before the run
// is dispatched, so that the worker need not load it back from the store.
func (s *Scheduler) notifyRunLocked(runID, agent string, started *Run) {
	if s.stopping {
		return
	}
	if sr, ok := s.runs[runID]; ok {
		if sr.running {
			sr.again = true
		} else if started != nil {
			sr.started = started
		}
		return
	}
	if _, ok := s.agents[agent]; !ok {
		return // not ours to run
	}
	if (len(s.backoff) > 0 || s.circuitOpen.Load()) && s.holdLocked(runID, agent) {
		return // the loop queues it when due
	}
	s.enqueueLocked(runID, agent, started)
}

// enqueueLocked queues runID, which no worker has, for a worker.
func (s *Scheduler) enqueueLocked(runID, agent string, started *Run) {
	s.runs[runID] = &schedRun{agent: agent, started: started}
	s.queue = append(s.queue, runID)
	s.dispatchLocked()
}

// dispatchLocked starts workers for queued runs while there is capacity.
// A run whose agent is at its limit stays queued, in order, and does not
// block runs of other agents.
func (s *Scheduler) dispatchLocked() {
	if !s.started || s.stopping {
		return
	}
	kept := s.queue[:0]
	for i, id := range s.queue {
		if s.active >= s.cfg.Workers {
			kept = append(kept, s.queue[i:]...)
			break
		}
		sr := s.runs[id]
		sa := s.agents[sr.agent]
		if sa.opts.MaxConcurrent > 0 && sa.active >= sa.opts.MaxConcurrent {
			kept = append(kept, id)
			continue
		}
		sa.active++
		s.active++
		sr.running = true
		s.wg.Add(1)
		go s.work(id, sr)
	}
	clear(s.queue[len(kept):])
	s.queue = kept
}

// loop polls the store and renews leases until the scheduler stops.
func (s *Scheduler) loop() {
	defer close(s.loopEnd)
	clock := s.cfg.Clock
	renewEvery := s.cfg.LeaseTTL / 3
	nextPoll := clock.Now()
	nextRenew := clock.Now().Add(renewEvery)
	nextPrune := clock.Now()
	pruneEvery := max(retentionInterval, s.cfg.PollInterval)
	var timer <-chan time.Time
	var timerAt time.Time
	for {
		s.mu.Lock()
		stopping := s.stopping
		s.dispatchLocked() // runs queued before Start
		s.mu.Unlock()
		if stopping {
			return
		}
		now := clock.Now()
		if !now.Before(nextPoll) {
			s.poll(now)
			nextPoll = now.Add(s.cfg.PollInterval)
		}
		if !now.Before(nextRenew) {
			s.renew(now)
			nextRenew = now.Add(renewEvery)
		}
		at := nextPoll
		if nextRenew.Before(at) {
			at = nextRenew
		}
		if due := s.backoffDue(now); !due.IsZero() && due.Before(at) {
			at = due
		}
		if s.cfg.Retention > 0 {
			if !now.Before(nextPrune) {
				s.prune(now)
				nextPrune = now.Add(pruneEvery)
			}
			if nextPrune.Before(at) {
				at = nextPrune
			}
		}
		if timer == nil || !at.Equal(timerAt) {
			// A fake clock keeps every After pending until it fires, so a
			// timer is only made when the wake-up time changes.
			timer, timerAt = clock.After(at.Sub(now)), at
		}
		select {
		case <-timer:
			timer = nil
		case <-s.wake:
		}
	}
}

// poll queues the runs in the store that need work: running runs nobody
// holds a live lease on, and waiting or sleeping runs that are due.
func (s *Scheduler) poll(now time.Time) {
	ctx := context.Background()
	running, err := s.cfg.Store.List(ctx, store.Query{Statuses: []string{string(StatusRunning)}})
	if err != nil {
		s.logError("poll", "", err)
		return
	}
	due, err := s.cfg.Store.List(ctx, store.Query{Statuses: []string{string(StatusWaiting), string(StatusSleeping)}, DueBefore: now})
	if err != nil {
		s.logError("poll", "", err)
		return
	}
	s.pollPeriodic(ctx, now)
	inboxed := s.pollInboxes(ctx, now)
	// Filter before taking the lock: runs other schedulers hold need
	// nothing from us.
	type item struct {
		info store.RunInfo
		ours bool // running under a live lease of ours
	}
	var todo []item
	for l, list := range [][]store.RunInfo{running, due, inboxed} {
		for _, info := range list {
			live := info.Lease.Owner != "" && now.Before(info.Lease.Expires)
			if live && info.Lease.Owner != s.cfg.Owner {
				continue // someone else's live lease
			}
			todo = append(todo, item{info, live && l == 0})
		}
	}
	if len(todo) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range todo {
		info := it.info
		if sr, ok := s.runs[info.ID]; ok && sr.running && it.ours {
			// A worker of ours is stepping it and goes on while it is
			// running: looking again once it lets go would only load it
			// back. (A run it lets go still running is unleased, and the
			// next poll takes it.)
			continue
		}
		s.notifyLocked(info.ID, info.Agent)
	}
}

// prune deletes the ended runs of the registered agents last updated
// before now - Retention (see SchedulerConfig.Retention).
func (s *Scheduler) prune(now time.Time) {
	ctx := context.Background()
	ended, err := s.cfg.Store.List(ctx, store.Query{Statuses: []string{string(StatusSucceeded), string(StatusFailed), string(StatusCancelled)}})
	if err != nil {
		s.logError("retention", "", err)
		return
	}
	cutoff := now.Add(-s.cfg.Retention)
	for _, info := range ended {
		if !info.UpdatedAt.Before(cutoff) {
			continue
		}
		s.mu.Lock()
		_, ours := s.agents[info.Agent]
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			return
		}
		if !ours {
			continue // another team's agent: its own schedulers decide
		}
		// Another scheduler on the store may have deleted it first.
		if err := DeleteRun(ctx, s.cfg.Store, info.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.logError("retention", info.ID, err)
		}
	}
}

// renew extends the leases of the runs being stepped; a lease that was lost
// cancels its run's step.
func (s *Scheduler) renew(now time.Time) {
	type held struct {
		id    string
		lease store.Lease
	}
	var hs []held
	s.mu.Lock()
	for id, sr := range s.runs {
		if sr.running && sr.lease.Owner != "" {
			hs = append(hs, held{id, sr.lease})
		}
	}
	s.mu.Unlock()
	for _, h := range hs {
		l, err := s.leases.RenewLease(context.Background(), h.id, h.lease, now.Add(s.cfg.LeaseTTL))
		s.mu.Lock()
		if sr, ok := s.runs[h.id]; ok && sr.lease == h.lease {
			if err == nil {
				sr.lease = l
			} else if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				sr.cancel(fmt.Errorf("ratchet: lease on run %s lost: %w", h.id, err))
			}
		}
		s.mu.Unlock()
		if err != nil {
			s.logError("renew lease", h.id, err)
		}
	}
}

// work steps one run while it can go on, then gives it up.
func (s *Scheduler) work(id string, sr *schedRun) {
	defer s.wg.Done()
	again := s.workRun(id, sr)
	s.mu.Lock()
	sa := s.agents[sr.agent]
	sa.active--
	s.active--
	delete(s.runs, id)
	s.afterWorkLocked(id)
	sr.mu.Lock()
	for _, it := range sr.inbox {
		it.done <- errRetrySend
	}
	sr.inbox = nil
	sr.mu.Unlock()
	if (again || sr.again) && !s.stopping {
		s.notifyLocked(id, sr.agent)
	}
	s.dispatchLocked()
	s.mu.Unlock()
}

// workRun leases and steps the run; it reports whether the run should be
// looked at again at once: also when, after it let the run go, the run's
// store inbox holds events that a sender left to it.
func (s *Scheduler) workRun(id string, sr *schedRun) (again bool) {
	s.mu.Lock()
	parent := s.workCtx
	sa := s.agents[sr.agent]
	s.mu.Unlock()
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r, leased := s.takeRun(ctx, cancel, id, sr, sa)
	if !leased {
		return false
	}
	release := true
	defer func() {
		if release {
			again = s.letGo(ctx, id, sr, r, again)
		}
	}()
	if r == nil {
		return false
	}
	// The step context is cancelled by an event sent with BusyInterrupt
	// (sr.stepCancel is set only while a step runs); one serves every step
	// until that happens.
	var stepCtx context.Context
	var stepCancel context.CancelCauseFunc
	defer func() {
		if stepCancel != nil {
			stepCancel(nil)
		}
	}()
	for {
		if s.circuitOpen.Load() && !sr.probe {
			// The store is failing: no model call until a probe succeeds.
			// Looked at again, the run waits for the circuit.
			return true
		}
		if err := s.checkpoint(ctx, r, sr); err != nil {
			if r2 := s.reloadAfter(ctx, sa, id, sr, err); r2 != nil {
				r = r2
				continue
			}
			s.logError("checkpoint", id, err)
			release = !errors.Is(err, store.ErrConflict)
			if release {
				s.storeFailed(ctx, id, sr, sa, r, "append", err, true)
			}
			r = nil // not again at once: the next poll retries
			return false
		}
		if r.state.Status != StatusRunning {
			return false
		}
		if s.stopFlag.Load() || ctx.Err() != nil {
			return false
		}
		if stepCtx == nil {
			// Made again only after an interrupt cancelled it.
			stepCtx, stepCancel = context.WithCancelCause(ctx)
		}
		sr.mu.Lock()
		sr.stepCancel = stepCancel
		sr.mu.Unlock()
		_, err := r.Step(stepCtx)
		sr.mu.Lock()
		sr.stepCancel = nil
		sr.mu.Unlock()
		interrupted := false
		if stepCtx.Err() != nil {
			interrupted = errors.Is(context.Cause(stepCtx), errStepInterrupted)
			stepCancel(nil)
			stepCtx = nil
		}
		if r.broken != nil {
			// Another writer appended (an operator's cancel or retry, an
			// answer): if the lease is still ours, load the run again and
			// go on from what is in the store.
			if r2 := s.reloadAfter(ctx, sa, id, sr, r.broken); r2 != nil {
				r = r2
				continue
			}
			s.logError("step", id, err)
			release = !errors.Is(r.broken, store.ErrConflict)
			if release {
				s.storeFailed(ctx, id, sr, sa, r, "append", r.broken, true)
			}
			return false
		}
		if ctx.Err() != nil {
			return false
		}
		if interrupted {
			continue
		}
		if err != nil && r.state.Status == StatusRunning {
			// Not a decision of the run's: leave it for the next poll,
			// after a backoff.
			s.logError("step", id, err)
			s.storeFailed(ctx, id, sr, sa, r, "step", err, true)
			return false
		}
		if sr.failed {
			s.stepped(id, sr)
		} else if s.writeFails.Load() != 0 {
			s.writeFails.Store(0)
		}
	}
}

// takeRun leases run id for a worker and loads it (the Run StartRun made,
// if nothing was appended since): leased is false when the lease could not
// be had, r is nil when the run could not be loaded.
func (s *Scheduler) takeRun(ctx context.Context, cancel context.CancelCauseFunc, id string, sr *schedRun, sa *schedAgent) (r *Run, leased bool) {
	s.mu.Lock()
	fresh := sr.started != nil
	var failed, owed bool
	if e := s.backoff[id]; e != nil || s.circuitOpen.Load() {
		if s.circuitOpen.Load() && (e == nil || !e.probe) {
			// Queued before the circuit opened: it waits for it.
			if e == nil {
				s.backoff[id] = &runBackoff{agent: sr.agent}
			}
			s.mu.Unlock()
			return nil, false
		}
		failed, owed = true, e.spend.owes()
		sr.probe = e.probe
	}
	sr.failed = failed
	s.mu.Unlock()
	if !fresh {
		// Looked at again (a poll listed it, something notified it while
		// a worker had it): a run that has ended since needs no lease,
		// unless the run owes a spend.
		info, err := s.cfg.Store.Get(ctx, id)
		if err == nil && Status(info.Status).Ended() && !owed || errors.Is(err, store.ErrNotFound) {
			if failed {
				s.forget(id)
			}
			return nil, false
		}
	}
	now := s.cfg.Clock.Now()
	lease, err := s.leases.AcquireLease(ctx, id, s.cfg.Owner, now, now.Add(s.cfg.LeaseTTL))
	if err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			s.forget(id)
		case !errors.Is(err, store.ErrLeased):
			s.logError("acquire lease", id, err)
			s.storeFailed(ctx, id, sr, sa, nil, "lease", err, false)
		}
		return nil, false
	}
	s.mu.Lock()
	sr.lease, sr.cancel = lease, cancel
	r = sr.started
	sr.started = nil
	s.mu.Unlock()
	if r != nil {
		// Fresh from StartRun; use it unless someone appended meanwhile.
		if info, err := s.cfg.Store.Get(ctx, id); err != nil || info.LastSeq != r.state.Seq {
			r = nil
		}
	}
	if r == nil {
		if r, err = sa.a.load(ctx, id, nil); err != nil {
			s.logError("resume", id, err)
			s.storeFailed(ctx, id, sr, sa, nil, "load", err, false)
			s.pauseUnloaded(ctx, id, sr, sa)
			return nil, true
		}
	}
	r.fence = lease.Token
	if failed {
		// It failed before: it steps again once a write of its own went
		// through (its lost spend, or a probe), or is paused now.
		return s.settle(ctx, id, sr, sa, r), true
	}
	return r, true
}

// letGo releases the worker's lease on run id (r, if not nil, is the run
// as the worker left it) and returns again, set if the run's inbox holds
// events a sender left to it meanwhile.
func (s *Scheduler) letGo(ctx context.Context, id string, sr *schedRun, r *Run, again bool) bool {
	s.mu.Lock()
	l := sr.lease
	sr.lease = store.Lease{}
	s.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if err := s.leases.ReleaseLease(ctx, id, l); err != nil && !errors.Is(err, store.ErrConflict) {
		s.logError("release lease", id, err)
	}
	// A sender that found the lease held left its event in the inbox for
	// us; now that the lease is free, either it or we see the other.
	if r != nil && r.broken == nil && !again && s.inboxWaiting(ctx, id, r.state.InboxSeq) {
		again = true
	}
	return again
}

// reloadAfter returns the run loaded again when err is a conflict and the
// lease is still this scheduler's (see reload), or nil.
func (s *Scheduler) reloadAfter(ctx context.Context, sa *schedAgent, id string, sr *schedRun, err error) *Run {
	if !errors.Is(err, store.ErrConflict) {
		return nil
	}
	return s.reload(ctx, sa, id, sr)
}

// reload loads run id again after a conflicting append, if this scheduler
// still holds its lease (renewing it); it returns nil when the lease was
// lost or the run cannot be loaded.
func (s *Scheduler) reload(ctx context.Context, sa *schedAgent, id string, sr *schedRun) *Run {
	s.mu.Lock()
	l := sr.lease
	s.mu.Unlock()
	nl, err := s.leases.RenewLease(ctx, id, l, s.cfg.Clock.Now().Add(s.cfg.LeaseTTL))
	if err != nil {
		return nil
	}
	s.mu.Lock()
	sr.lease = nl
	s.mu.Unlock()
	r, err := sa.a.load(ctx, id, nil)
	if err != nil {
		s.logError("reload", id, err)
		return nil
	}
	r.fence = nl.Token
	return r
}

// logError logs a failed operation on run runID, if a Logger is set.
func (s *Scheduler) logError(op, runID string, err error) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Error("ratchet scheduler: "+op, "run", runID, "owner", s.cfg.Owner, "err", err)
	}
}
