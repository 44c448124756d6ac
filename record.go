package ratchet

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The record format: every kind of record a run's log holds, the Record
// type and the types it holds, their JSON (the struct tags are the
// format's one definition; encode.go writes the step's records by hand,
// the same JSON), and their stable text form.

// FormatVersion is the version of the record encoding written by this code.
// Records carry it in their "v" field; decoding accepts versions 1 through
// FormatVersion and rejects newer ones with ErrUnsupportedFormat.
const FormatVersion = 1

// RecordKind names the kind of a Record.
type RecordKind string

// The kinds of records a run's log holds.
const (
	// RecRunStarted opens every log: the agent, the input messages.
	RecRunStarted RecordKind = "run_started"
	// RecModelFailed is one failed model call attempt (its error and the
	// delay before the next attempt, if any).
	RecModelFailed RecordKind = "model_failed"
	// RecModelResponded is the model's response for a step, persisted
	// before any tool of that step runs.
	RecModelResponded RecordKind = "model_responded"
	// RecToolStarted is persisted before a tool call runs.
	RecToolStarted RecordKind = "tool_started"
	// RecToolFinished is a tool call's result, persisted after it ran (or
	// the outcome assigned to it: an argument error, an unknown outcome).
	RecToolFinished RecordKind = "tool_finished"
	// RecRepair is a message sent back to the model because its output
	// could not be used (a final answer that does not fit the schema, an
	// empty response).
	RecRepair RecordKind = "repair"
	// RecHistoryTrimmed records that the view of the history sent to the
	// model was shortened (the log keeps everything).
	RecHistoryTrimmed RecordKind = "history_trimmed"
	// RecToolFailed is a failed attempt of a call that will be tried again
	// (a retry, or a pause after which the call runs again).
	RecToolFailed RecordKind = "tool_failed"
	// RecWindDown is the message asking the model for its final answer
	// because a budget was reached.
	RecWindDown RecordKind = "wind_down"
	// RecRunPaused: a budget or policy paused the run.
	RecRunPaused RecordKind = "run_paused"
	// RecRunResumed: a paused run continues. When appended by an operator
	// (the ratchet CLI's retry command) rather than by the step loop, it
	// may carry a Budget override, and the run's status becomes running so
	// that the next process to load it (Agent.Resume, a Scheduler)
	// continues it.
	RecRunResumed RecordKind = "run_resumed"
	// RecRunCompleted: the final answer; the run succeeded.
	RecRunCompleted RecordKind = "run_completed"
	// RecRunFailed: the run failed.
	RecRunFailed RecordKind = "run_failed"
	// RecRunCancelled: an operator cancelled the run (for example with
	// the ratchet CLI's cancel command). Its Error (kind "cancelled")
	// carries the reason. The run has ended: Step returns ErrRunEnded.
	RecRunCancelled RecordKind = "run_cancelled"
	// RecUsage is the spend of a model call whose model_responded could
	// not be persisted (the store failed): its Response carries only the
	// call's Usage (and Model), CostUSD its cost. It adds to the run's
	// totals and budgets, and to nothing else.
	RecUsage RecordKind = "usage"
	// RecSnapshot holds the State as of the record before it, so that
	// loading a long run need not decode every record. Its message history
	// is incremental: State.Messages holds only the messages from index
	// MessagesFrom on (those added since the previous snapshot), or, with
	// NoMessages, none (the records since the previous snapshot rebuild
	// them). Snapshots written by this code are bounded in size (see
	// Config.SnapshotEvery); those of older versions hold the whole
	// history (MessagesFrom 0), and load as before.
	RecSnapshot RecordKind = "snapshot"
	// Interrupts, events and timers:
	// RecInterrupted: a tool call waits for a person (a question or an
	// approval), an event or a time. The call stays open.
	RecInterrupted RecordKind = "interrupted"
	// RecAnswered: a pending interrupt got its answer (or its default at
	// its deadline).
	RecAnswered RecordKind = "answered"
	// RecEventReceived: an event was sent to the run.
	RecEventReceived RecordKind = "event_received"
)

// Record is one entry of a run's append-only log. Exactly the fields that
// belong to its Kind are set. Records are encoded as JSON objects; the
// encoding is documented on each field by its JSON name and is stable across
// versions (fields are only ever added).
type Record struct {
	// Version is the format version the record was written with ("v").
	Version int        `json:"v"`
	Kind    RecordKind `json:"kind"`
	// Seq is the record's sequence in the store; not encoded.
	Seq  uint64    `json:"-"`
	Time time.Time `json:"time"`
	// Step is the 1-based step the record belongs to.
	Step int `json:"step,omitempty"`
	// Active is the active running time spent since the previous record
	// of the same process session (budgets count it).
	Active time.Duration `json:"active,omitempty"`

	// run_started
	Agent  string            `json:"agent,omitempty"`
	Input  []Message         `json:"input,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`

	// model_responded, model_failed
	Response *Response     `json:"response,omitempty"`
	Attempt  int           `json:"attempt,omitempty"`
	CostUSD  float64       `json:"cost_usd,omitempty"`
	Delay    time.Duration `json:"delay,omitempty"`

	// tool_started, tool_finished
	Call   *CallRecord `json:"call,omitempty"`
	Result *ToolResult `json:"result,omitempty"`

	// repair
	Message *Message `json:"message,omitempty"`

	// Repair marks a model output (model_responded, or model_failed for
	// output the server could not parse) that could not be used: a repair
	// turn follows.
	Repair bool `json:"repair,omitempty"`

	// history_trimmed
	Trimmed     []int  `json:"trimmed,omitempty"`
	Summary     string `json:"summary,omitempty"`
	SummaryUpTo int    `json:"summary_up_to,omitempty"`

	// run_completed
	Output string `json:"output,omitempty"`

	// model_failed, run_paused, run_failed, run_cancelled
	Error *ErrorInfo `json:"error,omitempty"`

	// snapshot
	State *State `json:"state,omitempty"`
	// MessagesFrom, on a snapshot, is the index in the run's history of
	// State.Messages' first message: the messages before it are those of
	// the state the snapshot follows (0: State.Messages is the whole
	// history).
	MessagesFrom int `json:"messages_from,omitempty"`
	// NoMessages, on a snapshot, says that State.Messages is left out: the
	// history is the one the records before the snapshot build (its length
	// is State.SnapshotMessages).
	NoMessages bool `json:"no_messages,omitempty"`

	// interrupted, answered, event_received (see interrupt.go)
	Interrupt *PendingInterrupt `json:"interrupt,omitempty"`
	Answer    *AnswerRecord     `json:"answer,omitempty"`
	Event     *RunEvent         `json:"event,omitempty"`
	// InboxSeq, on an answered or event_received record delivering an
	// event taken from the run's store inbox (a store run of agent InboxAgent), is that
	// event's sequence in the inbox.
	InboxSeq uint64 `json:"inbox_seq,omitempty"`
	// run_resumed: a budget override (see State.Budget).
	Budget *Budget `json:"budget,omitempty"`
}

// CallRecord identifies one tool call of a step.
type CallRecord struct {
	// Index is the call's position among the step's tool calls.
	Index int    `json:"index"`
	ID    string `json:"id"`
	Tool  string `json:"tool"`
	// Key is the call's idempotency key (see IdempotencyKey).
	Key string `json:"key"`
	// Attempt counts tries of the call, from 1.
	Attempt int `json:"attempt,omitempty"`
}

// ToolResult is the outcome of one tool call as the model sees it.
type ToolResult struct {
	// Content is the text sent back to the model.
	Content string `json:"content"`
	// IsError marks a failure reported to the model.
	IsError bool `json:"is_error,omitempty"`
	// Error classifies a failure: "arguments", "unknown_tool", "tool",
	// "timeout", "panic", "unknown_outcome", "cancelled", "rejected".
	Error string `json:"error,omitempty"`
	// Duration is how long the call ran.
	Duration time.Duration `json:"duration,omitempty"`
	// OriginalBytes, when not zero, says that Content was cut (and ends
	// with TruncationMarker's note): it is the length in bytes of the
	// output the tool returned. A result is cut at the tool's
	// MaxOutputBytes, and always to fit in one store record.
	OriginalBytes int `json:"original_bytes,omitempty"`
}

// ErrorInfo is the persisted form of an error. It is an error itself, so
// that a failure read back from a log can be returned and inspected (Kind
// keeps the original classification).
type ErrorInfo struct {
	// Kind is a stable classification (a ModelErrorKind, "budget:steps",
	// "parse", "tool", ...).
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Error returns the persisted message.
func (e *ErrorInfo) Error() string { return e.Message }

// EncodeRecord returns the encoding of r: the JSON object that
// encoding/json makes of it, as Record's struct tags (and those of the
// types it holds) define. It returns encoding/json's error for a record
// that has no JSON form (a cost that is NaN or infinite, a time outside
// the years 0 to 9999).
func EncodeRecord(r *Record) ([]byte, error) {
	return appendEncodedRecord(make([]byte, 0, 256), r)
}

// DecodeRecord decodes one record, as encoding/json decodes a Record, and
// sets its Seq. It returns an error wrapping ErrCorruptLog for bytes that
// are not a record, and ErrUnsupportedFormat for a record written by a
// newer format version.
func DecodeRecord(seq uint64, data []byte) (*Record, error) {
	r := new(Record)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("%w: record %d: %v", ErrCorruptLog, seq, err)
	}
	if r.Version > FormatVersion {
		return nil, fmt.Errorf("%w: record %d has version %d, this code reads up to %d", ErrUnsupportedFormat, seq, r.Version, FormatVersion)
	}
	if r.Version < 1 || r.Kind == "" {
		return nil, fmt.Errorf("%w: record %d has no version or kind", ErrCorruptLog, seq)
	}
	r.Seq = seq
	return r, nil
}

// String returns the record's stable one-line text form (without times).
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString(string(r.Kind))
	if r.Step != 0 {
		fmt.Fprintf(&b, " step=%d", r.Step)
	}
	switch r.Kind {
	case RecRunStarted:
		fmt.Fprintf(&b, " agent=%s", r.Agent)
		for _, m := range r.Input {
			fmt.Fprintf(&b, " %s:%s", m.Role, strconv.Quote(m.Content))
		}
	case RecModelResponded:
		resp := r.Response
		fmt.Fprintf(&b, " finish=%s", resp.FinishReason)
		if r.Attempt > 1 {
			fmt.Fprintf(&b, " attempts=%d", r.Attempt)
		}
		fmt.Fprintf(&b, " usage=%d/%d", resp.Usage.InputTokens, resp.Usage.OutputTokens)
		if r.CostUSD != 0 {
			fmt.Fprintf(&b, " cost=%g", r.CostUSD)
		}
		if r.Repair {
			b.WriteString(" repair")
		}
		if resp.Message.Content != "" {
			fmt.Fprintf(&b, " text=%s", strconv.Quote(resp.Message.Content))
		}
		for i, c := range resp.Message.ToolCalls {
			fmt.Fprintf(&b, " call[%d]=%s#%s(%s)", i, c.Name, c.ID, c.Arguments)
		}
	case RecModelFailed:
		fmt.Fprintf(&b, " attempt=%d", r.Attempt)
		if r.Delay > 0 {
			fmt.Fprintf(&b, " delay=%s", r.Delay)
		}
		if r.Repair {
			b.WriteString(" repair")
		}
	case RecToolStarted, RecToolFinished, RecToolFailed:
		c := r.Call
		fmt.Fprintf(&b, " call[%d]=%s#%s key=%s", c.Index, c.Tool, c.ID, c.Key)
		if c.Attempt > 1 {
			fmt.Fprintf(&b, " attempt=%d", c.Attempt)
		}
		if r.Delay > 0 {
			fmt.Fprintf(&b, " delay=%s", r.Delay)
		}
		if res := r.Result; res != nil {
			if res.IsError {
				fmt.Fprintf(&b, " error=%s", res.Error)
			}
			fmt.Fprintf(&b, " -> %s", strconv.Quote(res.Content))
		}
	case RecRepair, RecWindDown:
		fmt.Fprintf(&b, " %s", strconv.Quote(r.Message.Content))
	case RecHistoryTrimmed:
		if len(r.Trimmed) > 0 {
			fmt.Fprintf(&b, " trimmed=%v", r.Trimmed)
		}
		if r.Summary != "" {
			fmt.Fprintf(&b, " summary_up_to=%d summary=%s", r.SummaryUpTo, strconv.Quote(r.Summary))
		}
	case RecRunCompleted:
		fmt.Fprintf(&b, " output=%s", strconv.Quote(r.Output))
	case RecRunResumed:
		if r.Budget != nil {
			fmt.Fprintf(&b, " budget=%s", r.Budget)
		}
	case RecSnapshot:
		if r.State != nil {
			fmt.Fprintf(&b, " seq=%d messages=%d", r.State.Seq, len(r.State.Messages))
		}
	}
	if r.Error != nil {
		fmt.Fprintf(&b, " error=%s %s", r.Error.Kind, strconv.Quote(r.Error.Message))
	}
	return b.String()
}
