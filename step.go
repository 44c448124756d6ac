package ratchet

import (
	"fmt"
	"strconv"
	"strings"
)

// Step is a read-only record of what one call of Run.Step did: the model's
// response, the tool calls and their results, and every record appended.
type Step struct {
	// Number is the step's number (the model call it made, from 1).
	Number int
	// Resumed is true when the step finished tool calls of a step begun
	// before (a resume after a crash, or after a pause).
	Resumed bool
	// WindDown is true when a budget was reached and the model was asked
	// for its final answer.
	WindDown bool
	// Response is the model's response; for a resumed step, only its
	// Message (from the log).
	Response *Response
	// Attempts counts model call attempts (retries included).
	Attempts int
	// Usage is the step's model usage.
	Usage Usage
	// Records are the records the step appended, in order. They are shared
	// with the Run and must not be modified.
	Records []*Record
	// Status is the run's status after the step.
	Status Status
	// Output is the final answer when Status is StatusSucceeded.
	Output string
}

// Results returns the tool results the step recorded, in the order they
// were recorded.
func (s *Step) Results() []ToolResult {
	var out []ToolResult
	for i := range s.Records {
		if s.Records[i].Kind == RecToolFinished {
			out = append(out, *s.Records[i].Result)
		}
	}
	return out
}

// String returns the step's stable text form: a header line, then one line
// per record (Record.String). Whole runs are golden-tested from it.
func (s Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d", s.Number)
	if s.Resumed {
		b.WriteString(" resumed")
	}
	if s.WindDown {
		b.WriteString(" wind-down")
	}
	fmt.Fprintf(&b, " status=%s\n", s.Status)
	for i := range s.Records {
		b.WriteString("  ")
		b.WriteString(s.Records[i].String())
		b.WriteByte('\n')
	}
	return b.String()
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
