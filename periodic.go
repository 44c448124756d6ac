package ratchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// MissedPolicy is what a periodic schedule does about the slots it missed
// while no scheduler was there to fire them (downtime).
type MissedPolicy string

// The missed-run policies.
const (
	// MissedSkip skips every missed slot: the schedule fires again at its
	// next slot.
	MissedSkip MissedPolicy = "skip"
	// MissedRunOnce starts one run for all the missed slots together, at
	// once, then keeps to the schedule.
	MissedRunOnce MissedPolicy = "run_once"
)

// Defaults of PeriodicSpec.
const (
	// MissedAfterDefault is how late a slot may fire and still count as on
	// time.
	MissedAfterDefault = time.Minute
)

// PeriodicAgent is the agent name of the store entries that hold periodic
// schedules; their run IDs are "periodic-" + PeriodicSpec.ID.
const PeriodicAgent = "ratchet.periodic"

// LabelPeriodic and LabelSlot label the runs a periodic schedule starts
// with the schedule's ID and the slot (RFC 3339) the run stands for.
const (
	LabelPeriodic = "ratchet.periodic"
	LabelSlot     = "ratchet.slot"
)

// PeriodicSpec defines a periodic schedule: a run of Agent with Input at
// every slot of Schedule.
type PeriodicSpec struct {
	// ID names the schedule; "periodic-"+ID must pass store.ValidateID.
	// The run of slot t gets the ID ID + "-" + t as 20060102T150405Z (UTC).
	ID string `json:"id"`
	// Agent is the registered agent to run.
	Agent string `json:"agent"`
	// Input is each run's goal (see Agent.Start).
	Input string `json:"input"`
	// Schedule is "@every <duration>" (a time.ParseDuration string; it
	// fires at the multiples of the duration since the zero time, so
	// "@every 1h" fires on the hour) or a standard 5-field cron expression
	// or descriptor (@hourly, @daily, ...), optionally prefixed with
	// CRON_TZ=<zone>.
	Schedule string `json:"schedule"`
	// AllowOverlap lets a slot start a run while the run of an earlier
	// slot has not ended. By default such a slot is skipped (and the skip
	// recorded); a paused run counts as not ended.
	AllowOverlap bool `json:"allow_overlap,omitempty"`
	// OnMissed is the policy for slots missed during downtime. Defaults to
	// MissedSkip.
	OnMissed MissedPolicy `json:"on_missed,omitempty"`
	// MissedAfter is how late a slot may be fired and still be on time; a
	// slot later than that (or followed by another due slot) was missed.
	// Defaults to 1m (MissedAfterDefault).
	MissedAfter time.Duration `json:"missed_after,omitempty"`
	// Labels are added to every run's labels.
	Labels map[string]string `json:"labels,omitempty"`
}

// The kinds of records in a periodic schedule's log.
const (
	periodicDefined = "defined"
	periodicFired   = "fired"
	periodicSkipped = "skipped"
	periodicRemoved = "removed"
)

// The statuses of a periodic schedule's store entry.
const (
	periodicActive   = "active"
	periodicInactive = "removed"
)

// periodicRecord is one record of a periodic schedule's log. Every record
// carries the whole state (Spec, LastRun), so each is a snapshot and only
// the last one is read.
type periodicRecord struct {
	Version int          `json:"v"`
	Kind    string       `json:"kind"`
	Time    time.Time    `json:"time"`
	Spec    PeriodicSpec `json:"spec"`
	// Slot is the slot fired or skipped; MissedFrom, when set, the first
	// of the missed slots this record accounts for.
	Slot       time.Time `json:"slot,omitzero"`
	MissedFrom time.Time `json:"missed_from,omitzero"`
	// Run is the run started by this record; LastRun the latest run
	// started by the schedule.
	Run     string    `json:"run,omitempty"`
	LastRun string    `json:"last_run,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Next    time.Time `json:"next,omitzero"`
	Owner   string    `json:"owner,omitempty"`
}

// PeriodicState is a periodic schedule as stored.
type PeriodicState struct {
	Spec PeriodicSpec
	// Next is the next slot to fire; zero once removed.
	Next time.Time
	// LastRun is the ID of the latest run the schedule started, if any.
	LastRun string
	// Removed reports whether RemovePeriodic removed the schedule.
	Removed bool
}

func periodicRunID(id string) string { return "periodic-" + id }

func slotRunID(id string, slot time.Time) string {
	return id + "-" + slot.UTC().Format("20060102T150405Z")
}

// withDefaults validates spec and returns a copy with defaults applied.
func (spec PeriodicSpec) withDefaults() (PeriodicSpec, schedule, error) {
	if err := store.ValidateID(periodicRunID(spec.ID)); err != nil {
		return spec, nil, fmt.Errorf("ratchet: periodic %q: %w", spec.ID, err)
	}
	if err := store.ValidateID(slotRunID(spec.ID, time.Time{})); err != nil {
		return spec, nil, fmt.Errorf("ratchet: periodic %q: %w", spec.ID, err)
	}
	sch, err := parseSchedule(spec.Schedule)
	if err != nil {
		return spec, nil, err
	}
	switch spec.OnMissed {
	case "":
		spec.OnMissed = MissedSkip
	case MissedSkip, MissedRunOnce:
	default:
		return spec, nil, fmt.Errorf("ratchet: periodic %q: unknown OnMissed %q", spec.ID, spec.OnMissed)
	}
	if spec.MissedAfter < 0 {
		return spec, nil, fmt.Errorf("ratchet: periodic %q: negative MissedAfter", spec.ID)
	}
	if spec.MissedAfter == 0 {
		spec.MissedAfter = MissedAfterDefault
	}
	spec.Labels = maps.Clone(spec.Labels)
	return spec, sch, nil
}

// AddPeriodic stores a periodic schedule, so that every scheduler sharing
// the store (with spec.Agent registered) fires it, also after restarts.
// Adding a schedule that exists with the same spec changes nothing (each
// process may call it at startup); with another spec it replaces the spec
// and reschedules from now. The first slot is the first one after now.
//
// Each slot is fired by exactly one scheduler: firing appends to the
// schedule's log with optimistic concurrency, and the loser of a race
// skips the slot. The agent must be registered with s (ErrUnknownAgent).
// When it has a Redactor, spec's Input and label values are stored (and
// compared, and started) passed through it.
func (s *Scheduler) AddPeriodic(ctx context.Context, spec PeriodicSpec) error {
	spec, sch, err := spec.withDefaults()
	if err != nil {
		return err
	}
	s.mu.Lock()
	sa, ok := s.agents[spec.Agent]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q (periodic %s)", ErrUnknownAgent, spec.Agent, spec.ID)
	}
	spec = redactPeriodic(sa.a.cfg.Redactor, spec)
	now := s.cfg.Clock.Now()
	pid := periodicRunID(spec.ID)
	rec := &periodicRecord{Kind: periodicDefined, Spec: spec, Next: sch.Next(now)}
	data, meta := s.periodicData(rec, now, 1)
	labels := map[string]string{LabelPeriodic: spec.ID}
	err = s.cfg.Store.Create(ctx, store.RunInfo{ID: pid, Agent: PeriodicAgent, Labels: labels, CreatedAt: now, Meta: meta}, [][]byte{data})
	if !errors.Is(err, store.ErrExists) {
		if err == nil {
			s.poke()
		}
		return err
	}
	for {
		info, cur, err := loadPeriodic(ctx, s.cfg.Store, spec.ID)
		if err != nil {
			return err
		}
		if cur.Kind != periodicRemoved && reflect.DeepEqual(normSpec(cur.Spec), normSpec(spec)) {
			return nil
		}
		rec := &periodicRecord{Kind: periodicDefined, Spec: spec, LastRun: cur.LastRun, Next: sch.Next(now)}
		data, meta := s.periodicData(rec, now, info.LastSeq+1)
		err = s.cfg.Store.Append(ctx, store.Batch{RunID: pid, Expected: info.LastSeq, Records: [][]byte{data}, Meta: meta})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return err
	}
}

func normSpec(s PeriodicSpec) PeriodicSpec {
	if len(s.Labels) == 0 {
		s.Labels = nil
	}
	return s
}

// RemovePeriodic stops a periodic schedule: no slot fires after it
// returns (runs already started go on). It returns ErrUnknownPeriodic for
// a schedule that does not exist or was removed.
func (s *Scheduler) RemovePeriodic(ctx context.Context, id string) error {
	for {
		info, cur, err := loadPeriodic(ctx, s.cfg.Store, id)
		if err != nil {
			return err
		}
		if cur.Kind == periodicRemoved {
			return fmt.Errorf("%w: %s", ErrUnknownPeriodic, id)
		}
		now := s.cfg.Clock.Now()
		rec := &periodicRecord{Kind: periodicRemoved, Spec: cur.Spec, LastRun: cur.LastRun}
		data, meta := s.periodicData(rec, now, info.LastSeq+1)
		err = s.cfg.Store.Append(ctx, store.Batch{RunID: periodicRunID(id), Expected: info.LastSeq, Records: [][]byte{data}, Meta: meta})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return err
	}
}

// LoadPeriodic reads a periodic schedule from st. It returns
// ErrUnknownPeriodic for one that does not exist.
func LoadPeriodic(ctx context.Context, st store.Store, id string) (PeriodicState, error) {
	_, rec, err := loadPeriodic(ctx, st, id)
	if err != nil {
		return PeriodicState{}, err
	}
	return PeriodicState{Spec: rec.Spec, Next: rec.Next, LastRun: rec.LastRun, Removed: rec.Kind == periodicRemoved}, nil
}

// loadPeriodic reads the schedule's index entry and its last record.
func loadPeriodic(ctx context.Context, st store.Store, id string) (store.RunInfo, *periodicRecord, error) {
	pid := periodicRunID(id)
	info, err := st.Get(ctx, pid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && info.Agent != PeriodicAgent) {
		return info, nil, fmt.Errorf("%w: %s", ErrUnknownPeriodic, id)
	}
	if err != nil {
		return info, nil, err
	}
	recs, err := st.Read(ctx, pid, info.LastSeq)
	if err != nil {
		return info, nil, err
	}
	if len(recs) == 0 {
		return info, nil, fmt.Errorf("%w: periodic %s has no records", ErrCorruptLog, id)
	}
	last := recs[len(recs)-1]
	var rec periodicRecord
	if err := json.Unmarshal(last.Data, &rec); err != nil {
		return info, nil, fmt.Errorf("%w: periodic %s record %d: %v", ErrCorruptLog, id, last.Seq, err)
	}
	if rec.Version < 1 || rec.Version > FormatVersion {
		return info, nil, fmt.Errorf("%w: periodic %s record %d has version %d", ErrUnsupportedFormat, id, last.Seq, rec.Version)
	}
	// The log's last record may be behind the index if the entry was read
	// between two appends; re-read in that (rare) case.
	if last.Seq != info.LastSeq {
		return loadPeriodic(ctx, st, id)
	}
	return info, &rec, nil
}

// periodicData encodes rec (as record seq) and returns it with the index
// Meta it implies.
func (s *Scheduler) periodicData(rec *periodicRecord, now time.Time, seq uint64) ([]byte, store.Meta) {
	rec.Version, rec.Time, rec.Owner = FormatVersion, now, s.cfg.Owner
	data, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("ratchet: encoding a periodic record: %v", err)) // plain data: cannot fail
	}
	meta := store.Meta{Status: periodicActive, UpdatedAt: now, WakeAt: rec.Next, SnapshotSeq: seq}
	if rec.Kind == periodicRemoved {
		meta.Status, meta.WakeAt = periodicInactive, time.Time{}
	}
	return data, meta
}

// pollPeriodic fires the periodic schedules due at now.
func (s *Scheduler) pollPeriodic(ctx context.Context, now time.Time) {
	due, err := s.cfg.Store.List(ctx, store.Query{Agent: PeriodicAgent, Statuses: []string{periodicActive}, DueBefore: now})
	if err != nil {
		s.logError("poll periodic", "", err)
		return
	}
	for _, info := range due {
		id := info.Labels[LabelPeriodic]
		if err := s.firePeriodic(ctx, id, now); err != nil {
			s.logError("fire periodic", info.ID, err)
		}
	}
}

// firePeriodic fires the due slots of schedule id at now: it decides what
// the due slots become (a run, or a recorded skip), claims them with one
// append at the schedule's last sequence, and, if it won, starts the run.
func (s *Scheduler) firePeriodic(ctx context.Context, id string, now time.Time) error {
	info, cur, err := loadPeriodic(ctx, s.cfg.Store, id)
	if err != nil {
		return err
	}
	if cur.Kind == periodicRemoved || cur.Next.IsZero() || cur.Next.After(now) {
		return nil // fired meanwhile by someone else
	}
	spec := cur.Spec
	s.mu.Lock()
	_, ours := s.agents[spec.Agent]
	s.mu.Unlock()
	if !ours {
		return nil // left to a scheduler that has the agent
	}
	spec, sch, err := spec.withDefaults()
	if err != nil {
		return err
	}
	d := dueSlots(sch, cur.Next, now, spec.MissedAfter)
	rec := &periodicRecord{LastRun: cur.LastRun, Spec: cur.Spec, Next: sch.Next(now)}
	switch {
	case d.onTime:
		rec.Kind, rec.Slot = periodicFired, d.latest
		if d.missed {
			rec.MissedFrom = cur.Next
		}
	case spec.OnMissed == MissedRunOnce:
		rec.Kind, rec.Slot, rec.MissedFrom = periodicFired, cur.Next, cur.Next
	default:
		rec.Kind, rec.Slot, rec.MissedFrom, rec.Reason = periodicSkipped, cur.Next, cur.Next, "missed"
	}
	if rec.Kind == periodicFired && !spec.AllowOverlap && cur.LastRun != "" {
		last, err := s.cfg.Store.Get(ctx, cur.LastRun)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// The last firing claimed its slot but died before creating
			// the run: create it now, then this slot overlaps it.
			if err := s.startPeriodicRun(ctx, cur.Spec, cur.LastRun, cur.Slot); err != nil {
				return err
			}
			rec.Kind, rec.Reason = periodicSkipped, "overlap"
		case err != nil:
			return err
		case !Status(last.Status).Ended():
			rec.Kind, rec.Reason = periodicSkipped, "overlap"
		}
	}
	if rec.Kind == periodicFired {
		rec.Run = slotRunID(spec.ID, rec.Slot)
		rec.LastRun = rec.Run
	}
	data, meta := s.periodicData(rec, now, info.LastSeq+1)
	err = s.cfg.Store.Append(ctx, store.Batch{RunID: info.ID, Expected: info.LastSeq, Records: [][]byte{data}, Meta: meta})
	if errors.Is(err, store.ErrConflict) {
		return nil // another scheduler fired (or redefined) it first
	}
	if err != nil {
		return err
	}
	if rec.Kind != periodicFired {
		return nil
	}
	return s.startPeriodicRun(ctx, cur.Spec, rec.Run, rec.Slot)
}

// startPeriodicRun starts the run of a claimed slot; a run that exists
// already (a repair raced) is left alone.
func (s *Scheduler) startPeriodicRun(ctx context.Context, spec PeriodicSpec, runID string, slot time.Time) error {
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = make(map[string]string, 2)
	}
	labels[LabelPeriodic] = spec.ID
	labels[LabelSlot] = slot.UTC().Format(time.RFC3339)
	_, err := s.StartRun(ctx, spec.Agent, spec.Input, &RunOptions{ID: runID, Labels: labels})
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	return err
}

// slotsDue describes the slots of a schedule due at some time.
type slotsDue struct {
	latest time.Time // the latest on-time slot, when onTime
	onTime bool      // a slot is due and not later than the grace
	missed bool      // at least one due slot was missed
}

// dueSlots looks at the slots from first (the first unfired slot, not
// after now) to now: a slot is on time when no later slot is due and it is
// at most grace old; every other due slot was missed.
func dueSlots(sch schedule, first, now time.Time, grace time.Duration) slotsDue {
	from := now.Add(-grace)
	cand := first
	if cand.Before(from) {
		// Skip straight to the first slot within the grace: no need to
		// walk slots missed during a long downtime one by one.
		cand = sch.Next(from.Add(-time.Nanosecond))
		if cand.Before(first) {
			cand = first
		}
	}
	if cand.After(now) {
		return slotsDue{missed: true}
	}
	for n := sch.Next(cand); !n.After(now); n = sch.Next(n) {
		cand = n
	}
	return slotsDue{latest: cand, onTime: true, missed: !cand.Equal(first)}
}
