package ratchet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// InboxAgent is the agent name of the store runs that hold run inboxes
// (a store run of agent InboxAgent). No Agent may be registered under it.
const InboxAgent = "ratchet.inbox"

// InboxLabel is the label of an inbox's store run that names the run the
// inbox belongs to.
const InboxLabel = "ratchet.run"

// The statuses of an inbox's store run.
const (
	// inboxPending: the inbox may hold events its run has not taken.
	inboxPending = "pending"
	// inboxDrained: its run has taken every event of the inbox.
	inboxDrained = "drained"
)

// inboxID returns the ID of the store run that is the inbox of run runID:
// "inbox." followed by runID, or, when that would be longer than
// store.MaxIDLen, "inbox_" followed by the hex SHA-256 of runID. The two
// forms cannot collide.
//
// A Scheduler puts an event there when Send is called for a run another
// process is stepping. Each record of the inbox is one JSON object
// {"time": ..., "event": {"name": ..., "data": ...}}, appended with
// optimistic concurrency by any sender; the inbox's index entry has agent
// InboxAgent, the label InboxLabel naming the run, and status "pending"
// while it may hold events the run has not taken ("drained" after). The
// run takes the events in inbox order at its next checkpoint, each as one
// answered or event_received record carrying the event's inbox sequence
// (Record.InboxSeq); State.InboxSeq is the last one taken, so that every
// event is delivered exactly once. An inbox stays, with the events as
// sent, until DeleteRun deletes its run.
func inboxID(runID string) string {
	if id := "inbox." + runID; len(id) <= store.MaxIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(runID))
	return "inbox_" + hex.EncodeToString(sum[:])
}

// inboxRecord is one record of an inbox.
type inboxRecord struct {
	Time  time.Time `json:"time"`
	Event RunEvent  `json:"event"`
}

// sendInbox appends ev to the store inbox of run runID, which another
// owner holds, and then makes sure somebody takes it: the holder does at
// its next checkpoint or once it lets the run go; if the run was let go
// meanwhile, sendInbox delivers the inbox itself.
func (s *Scheduler) sendInbox(ctx context.Context, runID string, ev RunEvent) error {
	info, err := s.cfg.Store.Get(ctx, runID)
	if err != nil {
		return fmt.Errorf("ratchet: send to run %s: %w", runID, err)
	}
	if info.Agent == InboxAgent {
		return fmt.Errorf("ratchet: send to run %s: it is an inbox", runID)
	}
	if Status(info.Status).Ended() {
		return fmt.Errorf("%w: run %s %s", ErrRunEnded, runID, info.Status)
	}
	now := s.cfg.Clock.Now()
	data, err := json.Marshal(inboxRecord{Time: now, Event: ev})
	if err != nil {
		return fmt.Errorf("ratchet: send to run %s: %w", runID, err)
	}
	id := inboxID(runID)
	meta := store.Meta{Status: inboxPending, UpdatedAt: now}
	for {
		in, err := s.cfg.Store.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			err = s.cfg.Store.Create(ctx, store.RunInfo{ID: id, Agent: InboxAgent, Labels: map[string]string{InboxLabel: runID},
				CreatedAt: now, Meta: meta}, [][]byte{data})
			if errors.Is(err, store.ErrExists) {
				continue
			}
		} else if err == nil {
			err = s.cfg.Store.Append(ctx, store.Batch{RunID: id, Expected: in.LastSeq, Records: [][]byte{data}, Meta: meta})
			if errors.Is(err, store.ErrConflict) {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("ratchet: send to run %s: inbox: %w", runID, err)
		}
		break
	}
	// The event is durable. If the holder let the run go before it could
	// see the event, deliver it now; a holder that still has the run
	// checks its inbox once it lets go (see Scheduler.workRun).
	for {
		err := s.sendExternal(ctx, runID, nil)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil && !errors.Is(err, store.ErrLeased) {
			s.logError("deliver inbox", runID, err)
		}
		return nil
	}
}

// drainInbox delivers the events of the run's store inbox after
// cur().InboxSeq, in order, by passing their records to add, and marks the
// inbox drained once the run has taken them all. cur returns the run's
// state as add leaves it. The caller holds the run's lease. The events of a
// run that has ended are dropped.
// id is inboxID(runID), or "" to have it computed.
func (s *Scheduler) drainInbox(ctx context.Context, runID, id string, cur func() *State, add func(*Record) error) error {
	if id == "" {
		id = inboxID(runID)
	}
	info, err := s.cfg.Store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ratchet: run %s: inbox: %w", runID, err)
	}
	if info.LastSeq > cur().InboxSeq && !cur().Status.Ended() {
		recs, err := s.cfg.Store.Read(ctx, id, cur().InboxSeq+1)
		if err != nil {
			return fmt.Errorf("ratchet: run %s: inbox: %w", runID, err)
		}
		for _, rec := range recs {
			if rec.Seq > info.LastSeq || cur().Status.Ended() {
				break
			}
			var in inboxRecord
			if err := json.Unmarshal(rec.Data, &in); err != nil {
				return fmt.Errorf("%w: run %s: inbox record %d: %v", ErrCorruptLog, runID, rec.Seq, err)
			}
			r := eventRecord(cur(), in.Event)
			r.InboxSeq = rec.Seq
			if err := add(r); err != nil {
				return err
			}
		}
	}
	if info.Status == inboxPending && (cur().InboxSeq >= info.LastSeq || cur().Status.Ended()) {
		// A sender that appended meanwhile makes this fail: the inbox
		// stays pending.
		err := s.cfg.Store.Append(ctx, store.Batch{RunID: id, Expected: info.LastSeq,
			Meta: store.Meta{Status: inboxDrained, UpdatedAt: s.cfg.Clock.Now()}})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("ratchet: run %s: inbox: %w", runID, err)
		}
	}
	return nil
}

// inboxWaiting reports whether the store inbox of run runID holds events
// after seq, the last one the run took.
func (s *Scheduler) inboxWaiting(ctx context.Context, runID string, seq uint64) bool {
	info, err := s.cfg.Store.Get(ctx, inboxID(runID))
	return err == nil && info.Status == inboxPending && info.LastSeq > seq
}

// pollInboxes queues the runs whose inboxes are pending and that nobody
// else holds: a run waiting for an event whose sender found it leased by
// an owner that died before taking the event.
func (s *Scheduler) pollInboxes(ctx context.Context, now time.Time) []store.RunInfo {
	inboxes, err := s.cfg.Store.List(ctx, store.Query{Agent: InboxAgent, Statuses: []string{inboxPending}})
	if err != nil {
		s.logError("poll inboxes", "", err)
		return nil
	}
	var todo []store.RunInfo
	for _, in := range inboxes {
		info, err := s.cfg.Store.Get(ctx, in.Labels[InboxLabel])
		if err != nil {
			continue
		}
		if info.Lease.Owner != "" && info.Lease.Owner != s.cfg.Owner && now.Before(info.Lease.Expires) {
			continue // the holder takes the events
		}
		todo = append(todo, info)
	}
	return todo
}
