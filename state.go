package ratchet

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Status is where a run is in its life.
type Status string

// The statuses of a run.
const (
	// StatusRunning: the run can take its next step.
	StatusRunning Status = "running"
	// StatusWaiting: the run waits for an answer, an approval or an event.
	StatusWaiting Status = "waiting"
	// StatusSleeping: the run waits for a time.
	StatusSleeping Status = "sleeping"
	// StatusPaused: a budget or a failure policy stopped the run; it is
	// resumable by calling Step again (with a raised budget).
	StatusPaused Status = "paused"
	// StatusSucceeded: the model gave its final answer.
	StatusSucceeded Status = "succeeded"
	// StatusFailed: the run ended with an error.
	StatusFailed Status = "failed"
	// StatusCancelled: the run was cancelled by an operator.
	StatusCancelled Status = "cancelled"
)

// Ended reports whether s is a terminal status (succeeded, failed, cancelled).
func (s Status) Ended() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCancelled
}

// CallState is a tool call of the step in progress and what is known of it.
type CallState struct {
	Call    ToolCall    `json:"call"`
	Key     string      `json:"key"`
	Started bool        `json:"started,omitempty"`
	Attempt int         `json:"attempt,omitempty"`
	Result  *ToolResult `json:"result,omitempty"`
	// Approved is set once a person approved a call that needs approval.
	Approved bool `json:"approved,omitempty"`
}

// State is everything known about a run: a fold (Apply) over its records.
// The zero State is the state before the first record.
type State struct {
	RunID  string            `json:"run_id"`
	Agent  string            `json:"agent"`
	Labels map[string]string `json:"labels,omitempty"`
	Status Status            `json:"status"`
	// Messages is the conversation after the instructions: the input, then
	// every assistant message and tool result of finished steps, and
	// repair messages, in order.
	Messages []Message `json:"messages"`
	// Step is the number of the last step whose model response is in the
	// log.
	Step int `json:"step"`
	// Calls are the tool calls of step Step while some have no result;
	// nil once the step's results are in Messages.
	Calls []CallState `json:"calls,omitempty"`
	// InputLen is how many of the first Messages are the run's input.
	InputLen int `json:"input_len"`
	// Repairs counts consecutive model outputs that could not be used
	// (each answered by a repair turn); a usable output resets it.
	Repairs int `json:"repairs,omitempty"`
	// WoundDown is set once the model was asked for its final answer
	// because a budget was reached.
	WoundDown bool `json:"wound_down,omitempty"`
	// Trimmed lists indexes of Messages whose content the model no longer
	// sees (history policy).
	Trimmed []int `json:"trimmed,omitempty"`
	// Summary, when set, stands in the model's view for Messages from
	// InputLen up to SummaryUpTo.
	Summary     string `json:"summary,omitempty"`
	SummaryUpTo int    `json:"summary_up_to,omitempty"`
	// SnapshotSeq is the sequence of the latest snapshot record applied.
	SnapshotSeq uint64 `json:"snapshot_seq,omitempty"`
	// SnapshotMessages is the length of Messages as of that snapshot: the
	// next snapshot holds the messages after it.
	SnapshotMessages int `json:"snapshot_messages,omitempty"`

	Usage     Usage         `json:"usage,omitzero"`
	CostUSD   float64       `json:"cost_usd,omitempty"`
	ToolCalls int           `json:"tool_calls,omitempty"`
	Active    time.Duration `json:"active,omitempty"`

	Output string     `json:"output,omitempty"`
	Error  *ErrorInfo `json:"error,omitempty"`

	// Interrupts are the pending interrupts of the step's calls (the run
	// is waiting or sleeping while there are any); Answered lists the IDs
	// of interrupts answered so far; Queued are event messages received
	// during a step, delivered after its tool results.
	Interrupts []PendingInterrupt `json:"interrupts,omitempty"`
	Answered   []string           `json:"answered,omitempty"`
	Queued     []Message          `json:"queued,omitempty"`
	// InboxSeq is the sequence of the last event of the run's store inbox
	// (a store run of agent InboxAgent) delivered to the run: the events after it are still to
	// be delivered.
	InboxSeq uint64 `json:"inbox_seq,omitempty"`
	// Budget, when not nil, is the budget override persisted by run_resumed
	// records (successive overrides merge: each non-zero field replaces the
	// one before). Its non-zero fields replace those of the agent's
	// Config.Budget when the run is loaded with Agent.Resume, unless
	// RunOptions.Budget is given.
	Budget *Budget `json:"budget,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Seq is the sequence of the last record applied.
	Seq uint64 `json:"seq"`
}

// Apply folds one record into the state. It returns an error, and leaves
// the state unchanged, for a record that cannot follow the state (a corrupt
// or out-of-order log). The state may share memory with r (its messages,
// its tool result): r must not be modified once applied.
func (s *State) Apply(r *Record) error {
	if r.Version < 1 || r.Version > FormatVersion {
		return fmt.Errorf("%w: record %d has version %d", ErrUnsupportedFormat, r.Seq, r.Version)
	}
	if s.Seq != 0 && r.Seq != 0 && r.Seq != s.Seq+1 && r.Kind != RecSnapshot {
		return fmt.Errorf("%w: record %d follows %d", ErrCorruptLog, r.Seq, s.Seq)
	}
	if err := s.apply(r); err != nil {
		return fmt.Errorf("%w: record %d (%s): %v", ErrCorruptLog, r.Seq, r.Kind, err)
	}
	if r.Seq != 0 {
		s.Seq = r.Seq
	}
	if !r.Time.IsZero() {
		s.UpdatedAt = r.Time
	}
	s.Active += r.Active
	return nil
}

// applySnapshot applies a snapshot record: the state it holds, and the
// messages it carries (see SnapshotMaxBytes).
func (s *State) applySnapshot(r *Record) error {
	snap := r.State
	msgs := s.Messages
	switch {
	case r.NoMessages:
		if len(msgs) != snap.SnapshotMessages {
			return fmt.Errorf("snapshot of a history of %d messages follows %d", snap.SnapshotMessages, len(msgs))
		}
	case r.MessagesFrom < 0 || r.MessagesFrom > len(msgs):
		return fmt.Errorf("snapshot of messages from %d follows %d", r.MessagesFrom, len(msgs))
	case len(msgs) == r.MessagesFrom+len(snap.Messages) && r.MessagesFrom > 0:
		// The state already holds them (the snapshot was just made from
		// it, or the records before it were folded): keep them.
	case len(msgs) == r.MessagesFrom && r.MessagesFrom > 0:
		// Loading: the state is the previous snapshot's, and the records
		// between the two were not folded.
		msgs = append(msgs, snap.Messages...)
	default:
		m := make([]Message, 0, r.MessagesFrom+len(snap.Messages)+8)
		m = append(m, msgs[:r.MessagesFrom]...)
		msgs = append(m, snap.Messages...)
	}
	if !r.NoMessages && snap.SnapshotMessages != 0 && snap.SnapshotMessages != len(msgs) {
		return fmt.Errorf("snapshot says %d messages, holds %d", snap.SnapshotMessages, len(msgs))
	}
	rest := *snap
	rest.Messages = nil
	*s = rest.Clone()
	s.Messages = msgs
	s.SnapshotSeq = r.Seq
	s.SnapshotMessages = len(msgs)
	return nil
}

func (s *State) overlayBudget(o *Budget) {
	var b Budget
	if s.Budget != nil {
		b = *s.Budget
	}
	b = b.overlay(*o)
	s.Budget = &b
}

func (s *State) apply(r *Record) error {
	if s.Status == "" && r.Kind != RecRunStarted && r.Kind != RecSnapshot {
		return fmt.Errorf("log does not start with %s", RecRunStarted)
	}
	switch r.Kind {
	case RecRunStarted:
		if s.Status != "" {
			return fmt.Errorf("run already started")
		}
		s.Agent = r.Agent
		s.Labels = r.Labels
		if r.Input != nil {
			// Room for a few steps' messages: growing from the input's
			// length cost an allocation and a copy every other step.
			s.Messages = append(make([]Message, 0, len(r.Input)+8), r.Input...)
		}
		s.InputLen = len(r.Input)
		s.Status = StatusRunning
		s.CreatedAt = r.Time
	case RecSnapshot:
		if r.State == nil {
			return fmt.Errorf("snapshot without state")
		}
		if err := s.applySnapshot(r); err != nil {
			return err
		}
	case RecModelFailed:
		if r.Repair {
			s.Repairs++
		}
	case RecModelResponded:
		if r.Response == nil {
			return fmt.Errorf("no response")
		}
		if s.Calls != nil {
			return fmt.Errorf("step %d still has tool calls without results", s.Step)
		}
		if r.Step != s.Step+1 {
			return fmt.Errorf("step %d after step %d", r.Step, s.Step)
		}
		s.Step = r.Step
		s.countRepair(r.Repair)
		s.Usage = s.Usage.Add(r.Response.Usage)
		s.CostUSD += r.CostUSD
		msg := r.Response.Message
		msg.Role = RoleAssistant
		s.Messages = append(s.Messages, msg)
		if len(msg.ToolCalls) > 0 {
			s.Calls = make([]CallState, len(msg.ToolCalls))
			for i, c := range msg.ToolCalls {
				s.Calls[i] = CallState{Call: c}
			}
		}
	case RecToolStarted, RecToolFinished:
		c, err := s.call(r)
		if err != nil {
			return err
		}
		if r.Kind == RecToolStarted {
			if c.Result != nil {
				return fmt.Errorf("call %d already finished", r.Call.Index)
			}
			c.Started = true
			c.Key = r.Call.Key
			c.Attempt = r.Call.Attempt
			s.ToolCalls++
			break
		}
		if r.Result == nil {
			return fmt.Errorf("tool_finished without result")
		}
		if c.Result != nil {
			return fmt.Errorf("call %d finished twice", r.Call.Index)
		}
		c.Result = r.Result // records are not modified once applied
		c.Key = r.Call.Key
		s.flushCalls()
	case RecRepair:
		if r.Message == nil {
			return fmt.Errorf("repair without message")
		}
		s.Messages = append(s.Messages, *r.Message)
	case RecWindDown:
		if r.Message == nil {
			return fmt.Errorf("wind_down without message")
		}
		s.Messages = append(s.Messages, *r.Message)
		s.WoundDown = true
	case RecToolFailed:
		c, err := s.call(r)
		if err != nil {
			return err
		}
		c.Started = false
	case RecHistoryTrimmed:
		s.Trimmed = append(s.Trimmed, r.Trimmed...)
		if r.Summary != "" {
			s.Summary, s.SummaryUpTo = r.Summary, r.SummaryUpTo
		}
	case RecUsage:
		if r.Response == nil {
			return fmt.Errorf("usage without response")
		}
		s.Usage = s.Usage.Add(r.Response.Usage)
		s.CostUSD += r.CostUSD
	case RecRunPaused:
		s.Status = StatusPaused
		s.Error = r.Error
	case RecRunResumed:
		if s.Status.Ended() {
			return fmt.Errorf("run already %s", s.Status)
		}
		s.Status = StatusRunning
		s.Error = nil
		s.WoundDown = false
		if r.Budget != nil {
			s.overlayBudget(r.Budget)
		}
	case RecRunCompleted:
		s.Status = StatusSucceeded
		s.Output = r.Output
	case RecRunFailed:
		s.Status = StatusFailed
		s.Error = r.Error
	case RecInterrupted, RecAnswered, RecEventReceived:
		return s.applyInterrupt(r)
	case RecRunCancelled:
		if s.Status.Ended() {
			return fmt.Errorf("run already %s", s.Status)
		}
		s.Status = StatusCancelled
		s.Error = r.Error
		s.Interrupts = nil // nobody answers a cancelled run
	default:
		return fmt.Errorf("unknown record kind %q", r.Kind)
	}
	return nil
}

func (s *State) countRepair(bad bool) {
	if bad {
		s.Repairs++
	} else {
		s.Repairs = 0
	}
}

func (s *State) call(r *Record) (*CallState, error) {
	if r.Call == nil {
		return nil, fmt.Errorf("no call")
	}
	if r.Step != s.Step || s.Calls == nil {
		return nil, fmt.Errorf("call for step %d, current step %d has no open calls", r.Step, s.Step)
	}
	i := r.Call.Index
	if i < 0 || i >= len(s.Calls) {
		return nil, fmt.Errorf("call index %d out of range", i)
	}
	return &s.Calls[i], nil
}

// flushCalls moves the step's results into Messages, in call order, once
// every call has one.
func (s *State) flushCalls() {
	for i := range s.Calls {
		if s.Calls[i].Result == nil {
			return
		}
	}
	for _, c := range s.Calls {
		s.Messages = append(s.Messages, Message{
			Role:       RoleTool,
			ToolCallID: c.Call.ID,
			Name:       c.Call.Name,
			Content:    c.Result.Content,
			IsError:    c.Result.IsError,
		})
	}
	s.Calls = nil
	s.flushQueued()
}

// Clone returns a deep copy of s that shares no slices or maps with it.
func (s *State) Clone() State {
	c := *s
	c.Messages = cloneMessages(s.Messages)
	if s.Calls != nil {
		c.Calls = make([]CallState, len(s.Calls))
		for i, cs := range s.Calls {
			c.Calls[i] = cs
			if cs.Result != nil {
				r := *cs.Result
				c.Calls[i].Result = &r
			}
		}
	}
	c.Trimmed = slices.Clone(s.Trimmed)
	s.cloneInterrupts(&c)
	if s.Labels != nil {
		c.Labels = make(map[string]string, len(s.Labels))
		for k, v := range s.Labels {
			c.Labels[k] = v
		}
	}
	if s.Error != nil {
		e := *s.Error
		c.Error = &e
	}
	if s.Budget != nil {
		b := *s.Budget
		c.Budget = &b
	}
	return c
}

func cloneMessages(ms []Message) []Message {
	if ms == nil {
		return nil
	}
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = m
		out[i].ToolCalls = slices.Clone(m.ToolCalls)
	}
	return out
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
