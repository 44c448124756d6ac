package ratchet

import (
	"fmt"
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
