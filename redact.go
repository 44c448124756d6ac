package ratchet

import "slices"

// redactRecord returns a copy of rec with every string passed through red.
// Snapshots hold a State folded from already redacted records.
func redactRecord(red Redactor, rec *Record) *Record {
	c := *rec
	if rec.Input != nil {
		c.Input = redactMessages(red, rec.Input)
	}
	if rec.Response != nil {
		resp := *rec.Response
		resp.Message = redactMessage(red, resp.Message)
		c.Response = &resp
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
	if rec.Error != nil {
		e := *rec.Error
		e.Message = red.Redact(e.Message)
		c.Error = &e
	}
	c.Output = red.Redact(rec.Output)
	c.Summary = red.Redact(rec.Summary)
	return &c
}

func redactMessages(red Redactor, ms []Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = redactMessage(red, m)
	}
	return out
}

func redactMessage(red Redactor, m Message) Message {
	m.Content = red.Redact(m.Content)
	m.Refusal = red.Redact(m.Refusal)
	if m.ToolCalls != nil {
		m.ToolCalls = slices.Clone(m.ToolCalls)
		for i := range m.ToolCalls {
			m.ToolCalls[i].Arguments = red.Redact(m.ToolCalls[i].Arguments)
		}
	}
	return m
}
