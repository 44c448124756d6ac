package ratchet

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/ratchet-run/ratchet/internal/schema"
	"github.com/ratchet-run/ratchet/store"
)

// Defaults of Config.
const (
	MaxParallelToolsDefault   = 8
	MaxToolOutputBytesDefault = 64 << 10
	ToolTimeoutDefault        = 2 * time.Minute
	SnapshotEveryDefault      = 256
)

// Config describes an Agent. The zero value of every optional field means
// its documented default. NewAgent copies what it needs; changing a Config
// after NewAgent has no effect on the Agent.
type Config struct {
	// Name identifies the agent; runs in a store name their agent, so a new
	// process can continue them. Required: 1-64 of [a-zA-Z0-9_-].
	Name string
	// Model is called once per step (plus retries). Required.
	Model Model
	// ModelName is sent as Request.Model and names the model in Pricing
	// when the response does not. Optional.
	ModelName string
	// Instructions are sent as the system message of every request.
	Instructions string
	// Tools the model may call; names must be unique.
	Tools []Tool
	// Store persists runs. Defaults to a new store.NewMemory(nil) owned by
	// this Agent. When it is a store.Leaser (Memory and File are), the
	// Runs of Start and Resume lease the runs they step; on a store
	// without leases they take none and fence nothing, and that one
	// process steps a run at a time is the application's part (one
	// process per store).
	Store store.Store
	// Output, when set (see TypedOutput), makes the final answer JSON of a
	// Go type: its schema goes to the model as the response format and the
	// answer is validated against it.
	Output *OutputType

	// ToolChoice, MaxResponseTokens (as Request.MaxOutputTokens) and
	// Temperature are copied into every Request. MaxResponseTokens caps one
	// response; Budget.MaxOutputTokens caps a whole run's output.
	ToolChoice        ToolChoice
	MaxResponseTokens int
	Temperature       *float64

	// MaxParallelTools bounds the tool calls of one step running at once.
	// Defaults to 8 (MaxParallelToolsDefault).
	MaxParallelTools int
	// MaxToolOutputBytes caps a tool result; longer results are cut and
	// marked (TruncationMarker), and the cut recorded
	// (ToolResult.OriginalBytes). Defaults to 64 KiB
	// (MaxToolOutputBytesDefault); Unlimited lifts the cap, but a result
	// is always cut to fit in one store record (see RecordSizer). Of a
	// longer result the runtime copies and keeps only the cap: a string or
	// json.RawMessage result costs no more than that. What it cannot bound
	// is the tool's own memory, and a NewTool result of another type,
	// which encoding/json encodes whole (about twice its size, briefly)
	// before it is cut: return a string or json.RawMessage, or cut inside
	// the tool, for results that may be large.
	MaxToolOutputBytes int
	// ToolTimeout bounds one tool call unless the tool sets its own.
	// Defaults to 2m (ToolTimeoutDefault).
	ToolTimeout time.Duration
	// OnToolError is what a failed tool call does unless the tool says
	// otherwise. Defaults to ToolErrorReport. ToolErrorRetry applies to
	// idempotent tools only: a failed call of another tool is reported.
	OnToolError ToolErrorAction
	// ToolRetry is the retry policy of tools whose OnError is
	// ToolErrorRetry and that have no policy of their own. Zero means
	// RetryPolicy's defaults.
	ToolRetry RetryPolicy
	// Retry is the retry policy of model calls. Zero means RetryPolicy's
	// defaults.
	Retry RetryPolicy
	// Parse governs repair turns for unusable output.
	Parse ParsePolicy
	// Budget limits every run unless RunOptions.Budget overrides it.
	Budget Budget
	// Pricing prices model usage for cost totals and the cost budget.
	Pricing Pricing
	// History decides what the model sees of a long history.
	History HistoryPolicy

	// Observer receives an Event for everything the agent's runs do. Nil
	// means none (and no events are built).
	Observer Observer
	// Redactor, when set, rewrites every string the runtime persists, logs
	// or traces (see Redactor).
	Redactor Redactor

	// LeaseTTL is how long the lease of a run stepped through Agent.Start
	// or Agent.Resume lasts; it is renewed every LeaseTTL/3 while a step
	// runs. Another process finds the run busy until the lease is
	// released or expires. Defaults to 30s (LeaseTTLDefault).
	LeaseTTL time.Duration
	// Owner names the Runs of this agent in leases. Defaults to a name
	// unique to each Run (host, process, random). Set it to a name stable
	// across restarts of one process (a pod's or host's name) so that a
	// process restarted after a crash takes its runs back at once rather
	// than waiting up to LeaseTTL for its dead leases to expire. Runs with
	// the same Owner do not exclude each other: it must never be shared by
	// two live processes, and one process must not step a run from two
	// Runs at once.
	Owner string

	// SnapshotEvery is how many records a run appends between snapshot
	// records. Defaults to 256 (SnapshotEveryDefault). A snapshot is
	// written between steps; it holds the state without its history and
	// the messages added since the previous snapshot, or, when those would
	// make it larger than SnapshotMaxBytes, none of them (then loading
	// folds the records since the previous snapshot). So snapshots are
	// bounded and add to the log in proportion to what the steps add.
	SnapshotEvery int
	// Clock is the source of time. Defaults to SystemClock().
	Clock Clock
	// NewID makes run IDs. Defaults to 16 random bytes in hex.
	NewID func() string
	// Random returns numbers in [0, 1) for retry jitter. Defaults to
	// math/rand/v2's Float64.
	Random func() float64
}

// Agent is a model, instructions, tools and policies. It is immutable and
// safe for concurrent use: many runs, in many goroutines, share one Agent.
type Agent struct {
	cfg       Config
	obs       Observer
	callObs   CallObserver // obs, when it is one
	toolIndex map[string]int
	policies  []ToolPolicy
	specs     []ToolSpec
	// validators pre-checks arguments of tools that expose one.
	validators []argValidator
}

// argValidator is implemented by tools that can validate arguments before
// they are started (NewTool's tools).
type argValidator interface {
	validateArgs(args json.RawMessage) error
}

// NewAgent validates cfg and returns an Agent. Every problem found is
// reported, joined, in the error.
func NewAgent(cfg Config) (*Agent, error) {
	var errs []error
	if !validToolName(cfg.Name) {
		errs = append(errs, fmt.Errorf("name %q must be 1-64 characters of [a-zA-Z0-9_-]", cfg.Name))
	}
	if cfg.Model == nil {
		errs = append(errs, errors.New("no model"))
	}
	index, err := checkTools(cfg.Tools)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.Output != nil && cfg.Output.err != nil {
		errs = append(errs, cfg.Output.err)
	}
	if cfg.MaxParallelTools < 0 || cfg.LeaseTTL < 0 || cfg.Parse.MaxCallsPerResponse < 0 {
		errs = append(errs, errors.New("MaxParallelTools, LeaseTTL or Parse.MaxCallsPerResponse is negative"))
	}
	if !cfg.OnToolError.valid() {
		errs = append(errs, fmt.Errorf("unknown OnToolError action %q", cfg.OnToolError))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("ratchet: invalid agent config: %w", errors.Join(errs...))
	}
	cfg.Tools = append([]Tool(nil), cfg.Tools...)
	if cfg.Store == nil {
		cfg.Store = store.NewMemory(nil)
	}
	if cfg.MaxParallelTools == 0 {
		cfg.MaxParallelTools = MaxParallelToolsDefault
	}
	if cfg.MaxToolOutputBytes == 0 {
		cfg.MaxToolOutputBytes = MaxToolOutputBytesDefault
	}
	if cfg.ToolTimeout == 0 {
		cfg.ToolTimeout = ToolTimeoutDefault
	}
	if cfg.OnToolError == "" {
		cfg.OnToolError = ToolErrorReport
	}
	cfg.ToolRetry = cfg.ToolRetry.withDefaults()
	cfg.Retry = cfg.Retry.withDefaults()
	if cfg.Parse.MaxRepairs == 0 {
		cfg.Parse.MaxRepairs = MaxRepairsDefault
	}
	cfg.Parse.MaxCallsPerResponse = cmp.Or(cfg.Parse.MaxCallsPerResponse, MaxCallsPerResponseDefault)
	cfg.Budget = cfg.Budget.withDefaults()
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = LeaseTTLDefault
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = SnapshotEveryDefault
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	if cfg.Random == nil {
		cfg.Random = mrand.Float64
	}
	a := &Agent{cfg: cfg, toolIndex: index, obs: cfg.Observer}
	a.callObs, _ = cfg.Observer.(CallObserver)
	for _, t := range cfg.Tools {
		p := toolPolicy(t)
		if p.Timeout == 0 {
			p.Timeout = cfg.ToolTimeout
		}
		if p.OnError == "" {
			p.OnError = cfg.OnToolError
			if p.Retry != nil {
				p.OnError = ToolErrorRetry // WithRetry implies retrying
			}
			if p.OnError == ToolErrorRetry && !p.Idempotent {
				p.OnError = ToolErrorReport // running it again could do it twice
			}
		}
		if p.OnUnknownOutcome == "" {
			p.OnUnknownOutcome = UnknownOutcomeReport
		}
		if p.MaxOutputBytes == 0 {
			p.MaxOutputBytes = cfg.MaxToolOutputBytes
		}
		if p.Retry == nil {
			r := cfg.ToolRetry
			p.Retry = &r
		} else {
			r := p.Retry.withDefaults()
			p.Retry = &r
		}
		a.policies = append(a.policies, p)
		a.specs = append(a.specs, t.Spec())
		v, _ := t.(argValidator)
		a.validators = append(a.validators, v)
	}
	return a, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Name returns the agent's name.
func (a *Agent) Name() string { return a.cfg.Name }

// Store returns the store the agent's runs are persisted in.
func (a *Agent) Store() store.Store { return a.cfg.Store }

// RunOptions are per-run settings. A nil *RunOptions means defaults.
type RunOptions struct {
	// ID names the run; it must pass store.ValidateID. Defaults to
	// Config.NewID().
	ID string
	// Labels are stored in the run index, for listing, and in the
	// run_started record. With a Redactor, their values are stored
	// redacted (their keys as given): a query (store.Query.Labels) then
	// matches the redacted values.
	Labels map[string]string
	// Messages, when not empty, are the run's input instead of one user
	// message.
	Messages []Message
	// Budget, when not nil, replaces the agent's budget for this run (zero
	// fields still mean defaults). Use it to resume a paused run with a
	// raised limit.
	Budget *Budget
}

// Start creates a run toward the goal input (one user message, unless
// opts.Messages is set), persists its run_started record and takes the
// run's lease (see Resume), so that no other process or Scheduler steps
// it meanwhile. The run takes no step until Step (or Wait) is called. In
// the moment between the two a Scheduler polling the store may take the
// run first: Start then returns the run's ID in a *RunBusyError, and the
// Scheduler steps it.
func (a *Agent) Start(ctx context.Context, input string, opts *RunOptions) (*Run, error) {
	r, err := a.start(ctx, input, opts)
	if err != nil {
		return nil, err
	}
	r.own = a.newLeaseHolder()
	if err := r.acquireLease(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// start is Start without the lease: a Scheduler's runs are leased by the
// Scheduler.
func (a *Agent) start(ctx context.Context, input string, opts *RunOptions) (*Run, error) {
	var o RunOptions
	if opts != nil {
		o = *opts
	}
	msgs := o.Messages
	if len(msgs) == 0 {
		msgs = []Message{{Role: RoleUser, Content: input}}
	}
	id := o.ID
	if id == "" {
		id = a.cfg.NewID()
	}
	if err := store.ValidateID(id); err != nil {
		return nil, fmt.Errorf("ratchet: start run: %w", err)
	}
	r := a.newRun(id, o.Budget)
	now := a.cfg.Clock.Now()
	rec := &Record{Version: FormatVersion, Kind: RecRunStarted, Time: now, Agent: a.cfg.Name, Input: msgs, Labels: o.Labels}
	if a.cfg.Redactor != nil {
		rec = redactRecord(a.cfg.Redactor, rec)
	}
	data, err := appendEncodedRecord(nil, rec)
	if err != nil {
		return nil, fmt.Errorf("ratchet: start run %s: %w", id, err)
	}
	r.state.RunID = id
	rec.Seq = 1
	if err := r.state.Apply(rec); err != nil {
		return nil, err
	}
	// The index gets the labels as the record has them: redacted.
	info := store.RunInfo{ID: id, Agent: a.cfg.Name, Labels: rec.Labels, CreatedAt: now, Meta: runMeta(&r.state)}
	if err := a.cfg.Store.Create(ctx, info, [][]byte{data}); err != nil {
		return nil, fmt.Errorf("ratchet: start run %s: %w", id, err)
	}
	if a.obs != nil {
		r.observe(ctx, Event{Kind: EventRunStarted, Status: r.state.Status, Seq: 1, Records: 1})
	}
	return r, nil
}

// Resume loads a run from the store into a fresh Run, ready to continue
// where its log ends. Its budget is opts.Budget when given; otherwise the
// agent's Config.Budget with the run's persisted override (State.Budget, set
// by an operator's run_resumed record) applied.
//
// Whoever steps a run holds its lease: Resume takes the lease of a run
// that is running or paused before it returns, Step renews it while it
// runs, and the Run releases it when the run comes to rest, when Wait
// returns, or on Close. Every append is fenced by it. A run leased by
// another owner (another process's Run, a Scheduler) whose lease has not
// expired gives a *RunBusyError (ErrRunBusy) and nothing is written; a
// lease that expired is taken over. A run that waits, sleeps or has ended
// is loaded without a lease (it cannot take a step).
//
// It returns an error wrapping store.ErrInvalidID for an ID that is not a
// run ID, store.ErrNotFound for an unknown run, ErrWrongAgent for a run of
// another agent, and ErrCorruptLog or ErrUnsupportedFormat for a log it
// cannot read.
func (a *Agent) Resume(ctx context.Context, runID string, opts *RunOptions) (*Run, error) {
	if err := store.ValidateID(runID); err != nil {
		return nil, fmt.Errorf("ratchet: resume run: %w", err)
	}
	r, err := a.load(ctx, runID, opts)
	if err != nil {
		return nil, err
	}
	r.own = a.newLeaseHolder()
	if s := r.state.Status; s != StatusRunning && s != StatusPaused {
		return r, nil
	}
	if err := r.acquireLease(ctx); err != nil {
		return nil, err
	}
	if info, err := a.cfg.Store.Get(ctx, runID); err != nil || info.LastSeq != r.state.Seq {
		// Appended to between the load and the lease: load it again.
		r2, err := a.load(ctx, runID, opts)
		if err != nil {
			_ = r.releaseLease(ctx)
			return nil, err
		}
		r2.own, r2.fence = r.own, r.fence
		r = r2
	}
	return r, nil
}

// load is Resume without the lease: a Scheduler's runs are leased by the
// Scheduler.
func (a *Agent) load(ctx context.Context, runID string, opts *RunOptions) (*Run, error) {
	var budget *Budget
	if opts != nil {
		budget = opts.Budget
	}
	r := a.newRun(runID, budget)
	st, err := LoadState(ctx, a.cfg.Store, runID)
	if err != nil {
		return nil, err
	}
	if st.Agent != a.cfg.Name {
		return nil, fmt.Errorf("%w: run %s is of agent %q, not %q", ErrWrongAgent, runID, st.Agent, a.cfg.Name)
	}
	r.state = st
	if a.obs != nil {
		r.observe(ctx, Event{Kind: EventRunResumed, Step: st.Step, Status: st.Status, Seq: st.Seq})
	}
	if budget == nil && st.Budget != nil {
		// An operator's override (run_resumed with a budget) wins over the
		// agent's default; RunOptions.Budget wins over both.
		r.budget = a.cfg.Budget.overlay(*st.Budget)
	}
	return r, nil
}

// maybeSnapshot reports whether data may be a snapshot record: false only
// for a record that starts as this code writes every record,
// {"v":N,"kind":"K", with another kind K.
func maybeSnapshot(data []byte) bool {
	const v, k = `{"v":`, `,"kind":"`
	if !bytes.HasPrefix(data, []byte(v)) {
		return true
	}
	i := len(v)
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	rest := data[i:]
	if !bytes.HasPrefix(rest, []byte(k)) {
		return true
	}
	return bytes.HasPrefix(rest[len(k):], []byte(string(RecSnapshot)+`"`))
}

// Run starts a run toward input and steps it to its end. It returns the
// final output, or the error that stopped the run (a *BudgetError for a
// paused run, a *ParseError, *ToolError or *ModelError for a failed one).
func (a *Agent) Run(ctx context.Context, input string, opts *RunOptions) (string, error) {
	r, err := a.Start(ctx, input, opts)
	if err != nil {
		return "", err
	}
	return r.Wait(ctx)
}

// OutputType is the declared Go type of an agent's final answer; make one
// with TypedOutput.
type OutputType struct {
	name      string
	schema    json.RawMessage
	validator *schema.Validator
	err       error
}

// TypedOutput declares T (a struct) as an agent's final output: its JSON
// schema is sent as the response format, and the model's final answer must
// be JSON that fits it. Decode it with DecodeOutput.
func TypedOutput[T any]() *OutputType {
	o := &OutputType{name: "final_answer"}
	raw, err := schema.For[T]()
	if err != nil {
		o.err = fmt.Errorf("output type: %w", err)
		return o
	}
	o.schema = raw
	o.validator, o.err = schema.Compile(raw)
	return o
}

// DecodeOutput decodes the final output of a succeeded run into T. It
// returns ErrNotCompleted for a run that has not succeeded.
func DecodeOutput[T any](r *Run) (T, error) {
	var v T
	if r.state.Status != StatusSucceeded {
		return v, fmt.Errorf("%w: run %s is %s", ErrNotCompleted, r.ID(), r.state.Status)
	}
	if err := json.Unmarshal([]byte(r.state.Output), &v); err != nil {
		return v, fmt.Errorf("ratchet: decode output of run %s: %w", r.ID(), err)
	}
	return v, nil
}
