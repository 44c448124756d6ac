package ratchet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// redactRecord returns a copy of rec with every text passed through red:
// messages (content, refusals, tool calls, tool names and call IDs), the
// provider's model name, tool results, repair and wind-down messages,
// summaries, outputs, error messages, label values, interrupts (tool
// arguments, prompts, schemas, defaults, event names), answers (values and
// reasons), events (names and data) and the State of a snapshot. What it
// leaves alone are identifiers and classifications the runtime itself
// makes or matches on (see Redactor). rec is not modified; the copy may
// share with rec what redaction did not change.
func redactRecord(red Redactor, rec *Record) *Record {
	c := *rec
	c.Input = redactMessages(red, rec.Input)
	c.Labels = redactLabels(red, rec.Labels)
	if rec.Response != nil {
		resp := *rec.Response
		resp.Message = redactMessage(red, resp.Message)
		resp.Model = red.Redact(resp.Model)
		c.Response = &resp
	}
	if rec.Call != nil {
		if id, tool := red.Redact(rec.Call.ID), red.Redact(rec.Call.Tool); id != rec.Call.ID || tool != rec.Call.Tool {
			call := *rec.Call
			call.ID, call.Tool = id, tool
			c.Call = &call
		}
	}
	if rec.Result != nil {
		res := *rec.Result
		res.Content = red.Redact(res.Content)
		c.Result = &res
	}
	if rec.Message != nil {
		m := redactMessage(red, *rec.Message)
		c.Message = &m
	}
	c.Error = redactErrorInfo(red, rec.Error)
	c.Output = red.Redact(rec.Output)
	c.Summary = red.Redact(rec.Summary)
	if rec.State != nil {
		c.State = redactState(red, rec.State)
	}
	if rec.Interrupt != nil {
		pi := redactInterrupt(red, *rec.Interrupt)
		c.Interrupt = &pi
	}
	if rec.Answer != nil {
		a := *rec.Answer
		a.Value = redactJSON(red, a.Value)
		a.Reason = red.Redact(a.Reason)
		c.Answer = &a
	}
	if rec.Event != nil {
		ev := redactEvent(red, *rec.Event)
		c.Event = &ev
	}
	return &c
}

// redactState returns a copy of s with every text passed through red (see
// redactRecord). A snapshot's State is folded from records that were
// redacted already; redacting it again keeps out what an earlier
// process, one without a Redactor, or with another, let in.
func redactState(red Redactor, s *State) *State {
	c := *s
	c.Labels = redactLabels(red, s.Labels)
	c.Messages = redactMessages(red, s.Messages)
	if s.Calls != nil {
		c.Calls = make([]CallState, len(s.Calls))
		for i, cs := range s.Calls {
			cs.Call = redactToolCall(red, cs.Call)
			if cs.Result != nil {
				res := *cs.Result
				res.Content = red.Redact(res.Content)
				cs.Result = &res
			}
			c.Calls[i] = cs
		}
	}
	c.Summary = red.Redact(s.Summary)
	c.Output = red.Redact(s.Output)
	c.Error = redactErrorInfo(red, s.Error)
	if s.Interrupts != nil {
		c.Interrupts = make([]PendingInterrupt, len(s.Interrupts))
		for i, pi := range s.Interrupts {
			c.Interrupts[i] = redactInterrupt(red, pi)
		}
	}
	c.Queued = redactMessages(red, s.Queued)
	return &c
}

// redactInterrupt returns pi with its texts passed through red. Its ID
// and Kind are the runtime's own and answers name it by them.
func redactInterrupt(red Redactor, pi PendingInterrupt) PendingInterrupt {
	pi.Tool = red.Redact(pi.Tool)
	pi.Args = red.Redact(pi.Args)
	pi.Prompt = red.Redact(pi.Prompt)
	pi.Schema = redactJSON(red, pi.Schema)
	pi.Event = red.Redact(pi.Event)
	pi.Default = redactJSON(red, pi.Default)
	return pi
}

// redactEvent returns ev with its name and data passed through red. The
// name is redacted like the Event of the interrupt waiting for it, so the
// two still match.
func redactEvent(red Redactor, ev RunEvent) RunEvent {
	ev.Name = red.Redact(ev.Name)
	ev.Data = redactJSON(red, ev.Data)
	return ev
}

// redactErrorInfo returns a copy of e with its message passed through red;
// its Kind is a classification and stays.
func redactErrorInfo(red Redactor, e *ErrorInfo) *ErrorInfo {
	if e == nil {
		return nil
	}
	c := *e
	c.Message = red.Redact(e.Message)
	return &c
}

// redactLabels returns labels with every value passed through red. Keys
// are kept (see Redactor).
func redactLabels(red Redactor, labels map[string]string) map[string]string {
	if labels == nil {
		return nil
	}
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = red.Redact(v)
	}
	return out
}

// redactMessages returns ms with every message passed through
// redactMessage: ms itself when nothing changed, else a copy.
func redactMessages(red Redactor, ms []Message) []Message {
	var out []Message
	for i := range ms {
		m := redactMessage(red, ms[i])
		if out == nil && !sameMessage(&m, &ms[i]) {
			out = slices.Clone(ms)
		}
		if out != nil {
			out[i] = m
		}
	}
	if out == nil {
		return ms
	}
	return out
}

// sameMessage reports whether redaction left a unchanged from b: the texts
// are equal and the tool calls are the same slice.
func sameMessage(a, b *Message) bool {
	return a.Content == b.Content && a.Refusal == b.Refusal && a.ToolCallID == b.ToolCallID && a.Name == b.Name &&
		len(a.ToolCalls) == len(b.ToolCalls) && (len(a.ToolCalls) == 0 || &a.ToolCalls[0] == &b.ToolCalls[0])
}

// redactMessage returns m with its texts passed through red: content,
// refusal, the tool call it answers and its tool's name, and its tool
// calls (a new slice when one changed). Its Role stays.
func redactMessage(red Redactor, m Message) Message {
	m.Content = red.Redact(m.Content)
	m.Refusal = red.Redact(m.Refusal)
	m.ToolCallID = red.Redact(m.ToolCallID)
	m.Name = red.Redact(m.Name)
	var calls []ToolCall
	for i, tc := range m.ToolCalls {
		rc := redactToolCall(red, tc)
		if calls == nil && rc != tc {
			calls = slices.Clone(m.ToolCalls)
		}
		if calls != nil {
			calls[i] = rc
		}
	}
	if calls != nil {
		m.ToolCalls = calls
	}
	return m
}

// redactToolCall returns c with its ID, tool name and arguments passed
// through red: all three are the model's text.
func redactToolCall(red Redactor, c ToolCall) ToolCall {
	c.ID = red.Redact(c.ID)
	c.Name = red.Redact(c.Name)
	c.Arguments = red.Redact(c.Arguments)
	return c
}

// redactJSON returns raw, a JSON value, with every string in it (object
// keys included) passed through red and the value encoded again; raw
// itself when nothing changed. The strings are redacted decoded, so that
// a secret written with JSON escapes is found too, and the result is
// still valid JSON. Bytes that are not JSON are redacted as text.
func redactJSON(red Redactor, raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		if s := red.Redact(string(raw)); s != string(raw) {
			return json.RawMessage(s)
		}
		return raw
	}
	v, changed := redactValue(red, v)
	if !changed {
		return raw
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Decoded JSON encodes again; should it not, no text of raw is
		// kept.
		return json.RawMessage(`null`)
	}
	return json.RawMessage(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// redactValue redacts the strings of v, a decoded JSON value, and reports
// whether any changed.
func redactValue(red Redactor, v any) (any, bool) {
	switch x := v.(type) {
	case string:
		s := red.Redact(x)
		return s, s != x
	case []any:
		changed := false
		for i, e := range x {
			var c bool
			x[i], c = redactValue(red, e)
			changed = changed || c
		}
		return x, changed
	case map[string]any:
		changed := false
		out := make(map[string]any, len(x))
		// Sorted, so that two keys redacted to one resolve the same way
		// every time.
		for _, k := range slices.Sorted(maps.Keys(x)) {
			e, c := redactValue(red, x[k])
			rk := red.Redact(k)
			changed = changed || c || rk != k
			out[rk] = e
		}
		return out, changed
	}
	return v, false
}

// redactPeriodic returns spec with its run input and label values passed
// through red (the label keys are kept, as for runs).
func redactPeriodic(red Redactor, spec PeriodicSpec) PeriodicSpec {
	if red == nil {
		return spec
	}
	spec.Input = red.Redact(spec.Input)
	spec.Labels = redactLabels(red, spec.Labels)
	return spec
}

// runRedactor returns the Redactor of the agent of run runID, when it is
// registered with s, or nil. It asks the store for the run's agent only
// when some registered agent has a Redactor and s does not hold the run.
func (s *Scheduler) runRedactor(ctx context.Context, runID string) (Redactor, error) {
	s.mu.Lock()
	some := false
	for _, sa := range s.agents {
		if sa.a.cfg.Redactor != nil {
			some = true
			break
		}
	}
	agent := ""
	if sr, ok := s.runs[runID]; ok {
		agent = sr.agent
	}
	s.mu.Unlock()
	if !some {
		return nil, nil
	}
	if agent == "" {
		info, err := s.cfg.Store.Get(ctx, runID)
		if err != nil {
			return nil, fmt.Errorf("ratchet: run %s: %w", runID, err)
		}
		agent = info.Agent
	}
	s.mu.Lock()
	sa := s.agents[agent]
	s.mu.Unlock()
	if sa == nil {
		return nil, nil
	}
	return sa.a.cfg.Redactor, nil
}

// redactSend returns ev passed through the Redactor of run runID's agent
// (see runRedactor), before Send persists it anywhere.
func (s *Scheduler) redactSend(ctx context.Context, runID string, ev RunEvent) (RunEvent, error) {
	red, err := s.runRedactor(ctx, runID)
	if err != nil || red == nil {
		return ev, err
	}
	return redactEvent(red, ev), nil
}
