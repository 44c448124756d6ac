package ratchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ratchet-run/ratchet/internal/schema"
	"github.com/ratchet-run/ratchet/store"
)

// Record kinds of interrupts, events and timers.
const (
	// RecInterrupted: a tool call waits for a person (a question or an
	// approval), an event or a time. The call stays open.
	RecInterrupted RecordKind = "interrupted"
	// RecAnswered: a pending interrupt got its answer (or its default at
	// its deadline).
	RecAnswered RecordKind = "answered"
	// RecEventReceived: an event was sent to the run.
	RecEventReceived RecordKind = "event_received"
)

// InterruptKind says what an interrupt waits for.
type InterruptKind string

// The kinds of interrupts.
const (
	InterruptQuestion InterruptKind = "question"
	InterruptApproval InterruptKind = "approval"
	InterruptEvent    InterruptKind = "event"
	InterruptSleep    InterruptKind = "sleep"
)

// Question is what a tool asks a person, raised with Interrupt.
type Question struct {
	// Prompt is the question shown to the person.
	Prompt string
	// Schema, when set, is the JSON schema the answer must fit.
	Schema json.RawMessage
	// Deadline, when not zero, is when Default applies.
	Deadline time.Time
	// Default is the answer at Deadline; nil means the tool reports that
	// nobody answered.
	Default json.RawMessage
}

// InterruptError is returned by a tool to make its run wait; make one with
// Interrupt, WaitForEvent or SleepUntil. The run is persisted as waiting
// (or sleeping) and leaves memory; the answer becomes the call's result.
type InterruptError struct {
	Kind     InterruptKind
	Question Question
	// Event is the event name an InterruptEvent waits for.
	Event string
}

// Error describes the interrupt.
func (e *InterruptError) Error() string {
	return "ratchet: interrupt (" + string(e.Kind) + "): " + e.Question.Prompt + e.Event
}

// Interrupt returns the error a tool returns to ask a person q.
func Interrupt(q Question) error { return &InterruptError{Kind: InterruptQuestion, Question: q} }

// SleepUntil returns the error a tool returns to make its run sleep until
// t; the call's result is then "woke at T". The timer is durable.
func SleepUntil(t time.Time) error {
	return &InterruptError{Kind: InterruptSleep, Question: Question{Deadline: t,
		Default: json.RawMessage(strconv.Quote("woke at " + t.UTC().Format(time.RFC3339)))}}
}

// WaitForEvent returns the error a tool returns to make its run wait for
// an event named name (sent with Scheduler.Send); the event's data becomes
// the call's result. A zero deadline waits for ever.
func WaitForEvent(name string, deadline time.Time) error {
	return &InterruptError{Kind: InterruptEvent, Event: name, Question: Question{Deadline: deadline}}
}

// PendingInterrupt is an interrupt waiting for its answer, as persisted.
type PendingInterrupt struct {
	ID       string          `json:"id"`
	Kind     InterruptKind   `json:"kind"`
	Step     int             `json:"step"`
	Call     int             `json:"call"`
	Tool     string          `json:"tool"`
	Args     string          `json:"args,omitempty"`
	Prompt   string          `json:"prompt,omitempty"`
	Schema   json.RawMessage `json:"schema,omitempty"`
	Event    string          `json:"event,omitempty"`
	Deadline time.Time       `json:"deadline,omitzero"`
	Default  json.RawMessage `json:"default,omitempty"`
}

// Answer answers a pending interrupt: Approved (with an optional Reason
// for a rejection) for an approval, Value (JSON) for a question.
type Answer struct {
	Value    json.RawMessage `json:"value,omitempty"`
	Approved bool            `json:"approved,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

// AnswerRecord is the persisted answer of one interrupt.
type AnswerRecord struct {
	ID string `json:"id"`
	Answer
	// Defaulted marks an answer applied at the deadline.
	Defaulted bool `json:"defaulted,omitempty"`
}

// RunEvent is a message sent to a run (Scheduler.Send).
type RunEvent struct {
	Name string          `json:"name"`
	Data json.RawMessage `json:"data,omitempty"`
}

// interruptRecord returns the record persisting a tool's interrupt, or nil
// when err is not one.
func (r *Run) interruptRecord(err error, step, i int, c ToolCall, attempt int) *Record {
	var ie *InterruptError
	if !errors.As(err, &ie) {
		return nil
	}
	q := ie.Question
	return &Record{Kind: RecInterrupted, Step: step, Interrupt: &PendingInterrupt{
		ID: fmt.Sprintf("s%d-c%d-%s%d", step, i, ie.Kind, attempt), Kind: ie.Kind, Step: step, Call: i,
		Tool: c.Name, Args: c.Arguments, Prompt: q.Prompt, Schema: q.Schema, Event: ie.Event,
		Deadline: q.Deadline, Default: q.Default,
	}}
}

// approvalRecord returns the record of the approval a call needs.
func approvalRecord(step, i int, c ToolCall) *Record {
	return &Record{Kind: RecInterrupted, Step: step, Interrupt: &PendingInterrupt{
		ID: fmt.Sprintf("s%d-c%d-approval", step, i), Kind: InterruptApproval, Step: step, Call: i,
		Tool: c.Name, Args: c.Arguments, Prompt: "approve call of " + c.Name,
	}}
}

// applyInterrupt folds the records of this file.
func (s *State) applyInterrupt(r *Record) error {
	switch r.Kind {
	case RecInterrupted:
		pi := r.Interrupt
		if pi == nil {
			return fmt.Errorf("interrupted without interrupt")
		}
		c, err := s.call(&Record{Step: pi.Step, Call: &CallRecord{Index: pi.Call}})
		if err != nil {
			return err
		}
		if c.Result != nil {
			return fmt.Errorf("call %d already finished", pi.Call)
		}
		c.Started = false
		s.Interrupts = append(s.Interrupts, *pi)
		s.setWaitStatus()
	case RecAnswered:
		a := r.Answer
		if a == nil {
			return fmt.Errorf("answered without answer")
		}
		i := slices.IndexFunc(s.Interrupts, func(p PendingInterrupt) bool { return p.ID == a.ID })
		if i < 0 {
			return fmt.Errorf("interrupt %q is not pending", a.ID)
		}
		pi := s.Interrupts[i]
		s.Interrupts = slices.Delete(slices.Clone(s.Interrupts), i, i+1)
		if len(s.Interrupts) == 0 {
			s.Interrupts = nil
		}
		s.Answered = append(s.Answered, a.ID)
		c, err := s.call(&Record{Step: pi.Step, Call: &CallRecord{Index: pi.Call}})
		if err != nil {
			return err
		}
		switch {
		case pi.Kind == InterruptApproval && a.Approved:
			c.Approved = true
		case pi.Kind == InterruptApproval:
			msg := "error: a person rejected this call"
			if a.Reason != "" {
				msg += ": " + a.Reason
			}
			c.Result = &ToolResult{Content: msg, IsError: true, Error: "rejected"}
		case a.Value == nil:
			msg := "error: nobody answered before the deadline"
			if a.Reason != "" {
				msg = "error: " + a.Reason
			}
			c.Result = &ToolResult{Content: msg, IsError: true, Error: "timeout"}
		default:
			c.Result = &ToolResult{Content: answerText(a.Value)}
		}
		s.setWaitStatus()
		s.flushCalls()
	case RecEventReceived:
		if r.Event == nil {
			return fmt.Errorf("event_received without event")
		}
		msg := Message{Role: RoleUser, Content: "[event " + r.Event.Name + "] " + answerText(r.Event.Data)}
		if s.Calls == nil {
			s.Messages = append(s.Messages, msg)
		} else {
			s.Queued = append(s.Queued, msg)
		}
	}
	if r.InboxSeq > s.InboxSeq && (r.Kind == RecAnswered || r.Kind == RecEventReceived) {
		s.InboxSeq = r.InboxSeq
	}
	return nil
}

// setWaitStatus sets the status from the pending interrupts.
func (s *State) setWaitStatus() {
	if s.Status.Ended() || s.Status == StatusPaused {
		return
	}
	s.Status = StatusRunning
	for _, p := range s.Interrupts {
		if p.Kind != InterruptSleep {
			s.Status = StatusWaiting
			return
		}
		s.Status = StatusSleeping
	}
}

// flushQueued moves messages queued during a step after its tool results.
func (s *State) flushQueued() {
	s.Messages = append(s.Messages, s.Queued...)
	s.Queued = nil
}

// wakeAt is when a waiting or sleeping run is next due: its earliest
// interrupt deadline.
func (s *State) wakeAt() time.Time {
	var t time.Time
	if s.Status != StatusWaiting && s.Status != StatusSleeping {
		return t
	}
	for _, p := range s.Interrupts {
		if !p.Deadline.IsZero() && (t.IsZero() || p.Deadline.Before(t)) {
			t = p.Deadline
		}
	}
	return t
}

func (s *State) cloneInterrupts(c *State) {
	c.Interrupts = slices.Clone(s.Interrupts)
	c.Answered = slices.Clone(s.Answered)
	c.Queued = cloneMessages(s.Queued)
}

// answerText is the tool result text of a JSON answer: a JSON string is
// unquoted, anything else is sent as JSON.
func answerText(v json.RawMessage) string {
	var str string
	if json.Unmarshal(v, &str) == nil {
		return str
	}
	return string(v)
}

// appendExternal appends the record build returns to a run this process
// does not step, with optimistic concurrency: on ErrConflict it reloads the
// run and asks build again. fence, when non-zero, fences the append.
func appendExternal(ctx context.Context, st store.Store, clock Clock, runID string, fence uint64, build func(*State) (*Record, error)) (State, error) {
	for attempt := 1; ; attempt++ {
		cur, err := LoadState(ctx, st, runID)
		if err != nil {
			return State{}, err
		}
		rec, err := build(&cur)
		if err != nil {
			return State{}, err
		}
		next, err := appendAfter(ctx, st, clock, &cur, rec, fence)
		if errors.Is(err, store.ErrConflict) && fence == 0 && attempt < externalAppendAttempts {
			continue
		}
		return next, err
	}
}

// appendAfter appends rec to the run in state cur (which it does not
// change) and returns the state after it. fence, when non-zero, fences the
// append. It returns an error wrapping store.ErrConflict when cur is stale.
func appendAfter(ctx context.Context, st store.Store, clock Clock, cur *State, rec *Record, fence uint64) (State, error) {
	rec.Version, rec.Time, rec.Seq = FormatVersion, clock.Now(), cur.Seq+1
	data, err := EncodeRecord(rec)
	if err != nil {
		return State{}, err
	}
	next := cur.Clone()
	if err := next.Apply(rec); err != nil {
		return State{}, err
	}
	err = st.Append(ctx, store.Batch{RunID: cur.RunID, Expected: cur.Seq, Records: [][]byte{data}, Meta: runMeta(&next), Fence: fence})
	if err != nil {
		return State{}, fmt.Errorf("ratchet: run %s: %w", cur.RunID, err)
	}
	return next, nil
}

// AnswerRun answers the pending interrupt interruptID of a run in st, from
// any process: it appends the answered record (reloading and retrying when
// another writer appended first) and makes the run due again, so that any
// Scheduler continues it. An approval runs the call; a rejection reports
// it (with Reason) to the model; a question's answer, validated against its
// schema, becomes the call's result. It returns ErrAlreadyAnswered for an
// interrupt answered before (an answer is used exactly once),
// ErrUnknownInterrupt, ErrInvalidAnswer, or ErrRunEnded.
//
// AnswerRun has no Agent and so no Redactor: the answer is persisted as
// given (as the ratchet CLI's answer command gives it). Scheduler.Answer
// passes it through the Redactor of the run's agent.
func AnswerRun(ctx context.Context, st store.Store, clock Clock, runID, interruptID string, ans Answer) error {
	return answerRun(ctx, st, clock, runID, interruptID, ans, nil)
}

// answerRun is AnswerRun persisting the answer passed through red, when
// not nil, once it has been checked against the question's schema.
func answerRun(ctx context.Context, st store.Store, clock Clock, runID, interruptID string, ans Answer, red Redactor) error {
	if clock == nil {
		clock = SystemClock()
	}
	_, err := appendExternal(ctx, st, clock, runID, 0, func(s *State) (*Record, error) {
		i := slices.IndexFunc(s.Interrupts, func(p PendingInterrupt) bool { return p.ID == interruptID })
		if i < 0 {
			if slices.Contains(s.Answered, interruptID) {
				return nil, fmt.Errorf("%w: %s of run %s", ErrAlreadyAnswered, interruptID, runID)
			}
			if s.Status.Ended() {
				return nil, fmt.Errorf("%w: run %s %s", ErrRunEnded, runID, s.Status)
			}
			return nil, fmt.Errorf("%w: %s of run %s", ErrUnknownInterrupt, interruptID, runID)
		}
		pi := s.Interrupts[i]
		if pi.Kind == InterruptQuestion && len(pi.Schema) > 0 {
			if ans.Value == nil {
				return nil, fmt.Errorf("%w: no value", ErrInvalidAnswer)
			}
			v, err := schema.Compile(pi.Schema)
			if err != nil {
				return nil, fmt.Errorf("%w: schema: %v", ErrInvalidAnswer, err)
			}
			if err := v.Validate(ans.Value); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidAnswer, err)
			}
		}
		if pi.Kind == InterruptQuestion && ans.Value != nil && !json.Valid(ans.Value) {
			return nil, fmt.Errorf("%w: value is not JSON", ErrInvalidAnswer)
		}
		rec := &Record{Kind: RecAnswered, Step: pi.Step, Answer: &AnswerRecord{ID: interruptID, Answer: ans}}
		if red != nil {
			rec = redactRecord(red, rec)
		}
		return rec, nil
	})
	return err
}

// dueAnswers returns the records that apply the defaults of interrupts
// whose deadline is not after now.
func dueAnswers(s *State, now time.Time) []*Record {
	var recs []*Record
	for _, p := range s.Interrupts {
		if p.Deadline.IsZero() || p.Deadline.After(now) {
			continue
		}
		a := &AnswerRecord{ID: p.ID, Defaulted: true}
		if p.Kind == InterruptApproval {
			a.Reason = "nobody approved it before the deadline"
		} else {
			a.Value = p.Default
		}
		recs = append(recs, &Record{Kind: RecAnswered, Step: p.Step, Answer: a})
	}
	return recs
}
