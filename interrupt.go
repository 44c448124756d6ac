package ratchet

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
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
