package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// cmdShow prints the timeline of one run: ratchet show RUN. With -json it
// prints a JSON array of the run's records, each the stored record object
// with its sequence added as "seq". Text from the run (messages,
// arguments, results, errors, labels, IDs, questions) cannot reach the
// terminal as control sequences: the timeline escapes control characters
// (escapeText), the JSON writes them as \u escapes (escapeJSON).
func cmdShow(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("show", w)
	ops, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	id := ops[0]
	info, err := s.Get(ctx, id)
	if err != nil {
		return notFound(id, err)
	}
	recs, err := s.Read(ctx, id, 1)
	if err != nil {
		return notFound(id, err)
	}
	if *jsonOut {
		out := make([]json.RawMessage, 0, len(recs))
		for _, r := range recs {
			b, err := recordJSON(r)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return writeJSON(w, out)
	}
	printHeader(ctx, w, s, info)
	p := newPrinter(w)
	for _, r := range recs {
		p.print(r)
	}
	return nil
}

// recordJSON returns a stored record as a JSON object with "seq" added.
// Fields this version does not know (a newer writer's) are kept.
func recordJSON(r store.Record) (json.RawMessage, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &probe); err != nil {
		return nil, fmt.Errorf("record %d is not a JSON object: %w", r.Seq, err)
	}
	seq := `{"seq":` + strconv.FormatUint(r.Seq, 10)
	if len(probe) == 0 {
		return json.RawMessage(seq + "}"), nil
	}
	body := strings.TrimSpace(string(r.Data))
	return json.RawMessage(escapeJSON([]byte(seq + "," + body[1:]))), nil
}

// outf writes one line of output: format with args, its control
// characters escaped (escapeText), so that what a model, a tool or a user
// wrote cannot drive the terminal or break the line.
func outf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s\n", escapeText(fmt.Sprintf(format, args...), false))
}

// printHeader writes what the run's index and folded state say of it.
// Every line goes through outf.
func printHeader(ctx context.Context, w io.Writer, s store.Store, info store.RunInfo) {
	outf(w, "run %s  agent=%s  status=%s", info.ID, info.Agent, info.Status)
	outf(w, "created %s  updated %s  steps %d  tokens %d in / %d out  tool calls %d  cost %s",
		fmtTime(info.CreatedAt), fmtTime(info.UpdatedAt), info.Totals.Steps, info.Totals.InputTokens,
		info.Totals.OutputTokens, info.Totals.ToolCalls, fmtCost(info.Totals.CostUSD))
	if len(info.Labels) > 0 {
		keys := make([]string, 0, len(info.Labels))
		for k := range info.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+info.Labels[k])
		}
		outf(w, "labels %s", strings.Join(parts, " "))
	}
	if !info.WakeAt.IsZero() {
		outf(w, "wakes %s", fmtTime(info.WakeAt))
	}
	if st, err := ratchet.LoadState(ctx, s, info.ID); err != nil {
		outf(w, "(state not folded: %v)", err)
	} else {
		if st.Error != nil {
			outf(w, "error %s: %s", st.Error.Kind, st.Error.Message)
		}
		if st.Budget != nil {
			outf(w, "budget override %s", st.Budget)
		}
		for _, pi := range st.Interrupts {
			outf(w, "pending %s %s: %s%s (answer with: ratchet answer %s %s VALUE)",
				pi.Kind, pi.ID, pi.Tool, interruptText(&pi), info.ID, pi.ID)
		}
	}
	fmt.Fprintln(w)
}

// printer writes records as timeline lines; it remembers the arguments of
// the calls the model asked for, to show them with tool_started.
type printer struct {
	w    io.Writer
	args map[string]string // call ID -> arguments, of the latest response
}

func newPrinter(w io.Writer) *printer {
	return &printer{w: w, args: map[string]string{}}
}

// print writes one stored record. Records it cannot decode, and kinds it
// does not know, are printed in their stable text form (Record.String).
func (p *printer) print(sr store.Record) {
	r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
	if err != nil {
		outf(p.w, "%4d  undecodable record: %v", sr.Seq, err)
		return
	}
	defer func() {
		// A record missing a field its kind requires (a damaged or
		// foreign log) is shown raw rather than stopping the timeline.
		if v := recover(); v != nil {
			outf(p.w, "%4d  malformed %s record: %s", sr.Seq, r.Kind, sr.Data)
		}
	}()
	line := func(format string, a ...any) {
		step := ""
		if r.Step != 0 {
			step = "step " + strconv.Itoa(r.Step)
		}
		outf(p.w, "%4d  %s  %-8s %s", r.Seq, fmtTime(r.Time), step, fmt.Sprintf(format, a...))
	}
	switch r.Kind {
	case ratchet.RecRunStarted:
		line("started, agent %s", r.Agent)
		for _, m := range r.Input {
			p.block(string(m.Role), m.Content)
		}
	case ratchet.RecModelResponded:
		resp := r.Response
		extra := ""
		if r.Attempt > 1 {
			extra += fmt.Sprintf(", attempt %d", r.Attempt)
		}
		if r.Repair {
			extra += ", unusable: repair follows"
		}
		line("model responded (%s; tokens %d in / %d out; cost %s%s)", resp.FinishReason,
			resp.Usage.InputTokens, resp.Usage.OutputTokens, fmtCost(r.CostUSD), extra)
		if resp.Message.Content != "" {
			p.block("text", resp.Message.Content)
		}
		if resp.Message.Refusal != "" {
			p.block("refusal", resp.Message.Refusal)
		}
		clear(p.args)
		for _, c := range resp.Message.ToolCalls {
			p.args[c.ID] = c.Arguments
			p.block("call", fmt.Sprintf("%s#%s %s", c.Name, c.ID, c.Arguments))
		}
	case ratchet.RecModelFailed:
		line("model call failed (attempt %d): %s%s", r.Attempt, errText(r.Error), retryText(r.Delay))
	case ratchet.RecToolStarted:
		line("tool %s#%s started%s %s", r.Call.Tool, r.Call.ID, attemptText(r.Call.Attempt), p.args[r.Call.ID])
	case ratchet.RecToolFinished:
		res := r.Result
		status := "finished"
		if res.IsError {
			status = "failed (" + res.Error + ")"
		}
		line("tool %s#%s %s in %s", r.Call.Tool, r.Call.ID, status, res.Duration)
		p.block("result", res.Content)
	case ratchet.RecToolFailed:
		line("tool %s#%s attempt failed%s: %s%s", r.Call.Tool, r.Call.ID, attemptText(r.Call.Attempt), errText(r.Error), retryText(r.Delay))
	case ratchet.RecRepair:
		line("repair turn")
		p.block(string(r.Message.Role), r.Message.Content)
	case ratchet.RecWindDown:
		line("wind-down: %s", errText(r.Error))
		p.block(string(r.Message.Role), r.Message.Content)
	case ratchet.RecHistoryTrimmed:
		line("history trimmed (%d messages hidden%s)", len(r.Trimmed), map[bool]string{true: ", summarised", false: ""}[r.Summary != ""])
	case ratchet.RecRunPaused:
		line("PAUSED: %s", errText(r.Error))
	case ratchet.RecRunResumed:
		if r.Budget != nil {
			line("resumed with budget %s", r.Budget)
		} else {
			line("resumed")
		}
	case ratchet.RecRunCompleted:
		line("SUCCEEDED")
		p.block("output", r.Output)
	case ratchet.RecRunFailed:
		line("FAILED: %s", errText(r.Error))
	case ratchet.RecRunCancelled:
		line("CANCELLED: %s", errText(r.Error))
	case ratchet.RecInterrupted:
		pi := r.Interrupt
		line("WAITING: %s %s on %s#%d%s", pi.Kind, pi.ID, pi.Tool, pi.Call, interruptText(pi))
		if pi.Args != "" {
			p.block("args", pi.Args)
		}
	case ratchet.RecAnswered:
		a := r.Answer
		how := "answered"
		if a.Defaulted {
			how = "defaulted at its deadline"
		}
		switch {
		case a.Value != nil:
			line("interrupt %s %s: %s", a.ID, how, a.Value)
		case a.Approved:
			line("interrupt %s %s: approved", a.ID, how)
		default:
			line("interrupt %s %s: rejected %s", a.ID, how, strconv.Quote(a.Reason))
		}
	case ratchet.RecEventReceived:
		line("event %s received: %s", r.Event.Name, r.Event.Data)
	case ratchet.RecSnapshot:
		line("snapshot")
	default:
		line("%s", r.String())
	}
}

// block writes text under a record, indented, one label per block. Its
// control characters but newlines and tabs are escaped (escapeText).
func (p *printer) block(label, text string) {
	const indent = "                               "
	label = escapeText(label, false)
	text = escapeText(strings.TrimRight(text, "\n"), true)
	text = strings.ReplaceAll(text, "\n", "\n"+indent+strings.Repeat(" ", len(label)+2))
	fmt.Fprintf(p.w, "%s%s: %s\n", indent, label, text)
}

// interruptText describes what an interrupt asks or waits for.
func interruptText(pi *ratchet.PendingInterrupt) string {
	var b strings.Builder
	if pi.Prompt != "" {
		fmt.Fprintf(&b, " %s", strconv.Quote(pi.Prompt))
	}
	if pi.Event != "" {
		fmt.Fprintf(&b, " event %s", pi.Event)
	}
	if !pi.Deadline.IsZero() {
		fmt.Fprintf(&b, " until %s", fmtTime(pi.Deadline))
	}
	return b.String()
}

func errText(e *ratchet.ErrorInfo) string {
	if e == nil {
		return "(no error)"
	}
	return e.Kind + ": " + e.Message
}

func retryText(d time.Duration) string {
	if d > 0 {
		return ", retrying in " + d.String()
	}
	return ""
}

func attemptText(n int) string {
	if n > 1 {
		return fmt.Sprintf(" (attempt %d)", n)
	}
	return ""
}
