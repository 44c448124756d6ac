package ratchet

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a hand-written, single-pass JSON decoder for Record and every
// type reachable from it (snapshots hold the whole State). It exists because
// loading a long run decodes its latest snapshot, and encoding/json (a full
// validity pre-scan, then reflection) spends most of Agent.Resume's time on
// it.
//
// The decoder is a fast path, never a second definition of the format: it
// must produce exactly what json.Unmarshal produces, or give up. It gives up
// (decodeRecordFast returns false, and DecodeRecord uses encoding/json for
// the whole record) on
//
//   - any syntax error, trailing data, or input that is not an object at the
//     top level (so errors are encoding/json's, exactly as before);
//   - any object key that is not byte-for-byte the JSON name of a field of
//     the type being decoded: unknown keys (which encoding/json ignores),
//     keys in another case (which it matches case-insensitively) and
//     escaped keys;
//   - any value of the wrong JSON type, and numbers that do not fit the
//     field (a fraction or exponent in an integer field, overflow, a sign
//     on an unsigned field, a float out of range);
//   - a repeated key whose field is a slice or map already set (encoding/json
//     then decodes into the existing elements: rare and subtle);
//   - a time that time.Time.UnmarshalJSON rejects;
//   - raw JSON values (json.RawMessage fields) nested deeper than maxSkipDepth.
//
// Otherwise it follows encoding/json's rules: null leaves a scalar or struct
// field as it is and sets a pointer, slice or map to nil; a repeated key of a
// scalar field is last-wins, of a struct (or pointer to struct) field merges
// into it; [] and {} give empty, non-nil slices and maps; strings are
// unescaped with invalid UTF-8 and unpaired surrogates replaced by U+FFFD;
// json.RawMessage fields get the value's bytes (the four bytes null for a
// null). TestDecodeRecordFastMatchesEncodingJSON and FuzzDecodeRecordFast
// hold it to encoding/json.
//
// Strings without escapes are substrings of one copy of the record's bytes,
// so decoding allocates once for them all; the strings of a decoded record
// keep that copy alive.

// fallback is the panic value that abandons the fast path.
type fallback struct{}

// maxSkipDepth bounds the nesting of raw JSON values the fast path skips.
const maxSkipDepth = 256

// decoder reads one JSON value from data.
type decoder struct {
	data []byte
	s    string // data as a string; unescaped strings are substrings of it
	i    int
}

// decodeRecordFast decodes data into r, which must be zero, and reports
// whether it could. When it returns false r is in an unspecified state and
// the caller decodes with encoding/json instead.
func decodeRecordFast(data []byte, r *Record) (ok bool) {
	defer func() {
		if e := recover(); e != nil {
			if _, fb := e.(fallback); !fb {
				panic(e)
			}
			ok = false
		}
	}()
	d := decoder{data: data, s: string(data)}
	d.ws()
	d.record(r)
	d.ws()
	return d.i == len(d.data)
}

// fail abandons the fast path.
func (d *decoder) fail() { panic(fallback{}) }

// ws skips JSON whitespace.
func (d *decoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the byte at the cursor; it fails at the end of the input.
func (d *decoder) peek() byte {
	if d.i >= len(d.data) {
		d.fail()
	}
	return d.data[d.i]
}

// lit consumes the literal word (true, false, null).
func (d *decoder) lit(word string) {
	if len(d.data)-d.i < len(word) || d.s[d.i:d.i+len(word)] != word {
		d.fail()
	}
	d.i += len(word)
}

// null consumes a null and reports whether there was one.
func (d *decoder) null() bool {
	if d.peek() == 'n' {
		d.lit("null")
		return true
	}
	return false
}

// open consumes the byte c ('{' or '[') opening a value.
func (d *decoder) open(c byte) {
	if d.peek() != c {
		d.fail()
	}
	d.i++
}

// next reports whether the object or array being read (closed by close) has
// another member, consuming the separating comma or the closing byte, and
// the whitespace before the member. first is true before the first member.
func (d *decoder) next(first *bool, close byte) bool {
	d.ws()
	c := d.peek()
	if c == close {
		d.i++
		return false
	}
	if *first {
		*first = false
		return true
	}
	if c != ',' {
		d.fail()
	}
	d.i++
	d.ws()
	return true
}

// key reads an object key and the colon after it. Keys with escapes fail:
// the caller matches keys byte for byte.
func (d *decoder) key() string {
	d.open('"')
	start := d.i
	for {
		c := d.peek()
		if c == '"' {
			break
		}
		if c == '\\' || c < 0x20 {
			d.fail()
		}
		d.i++
	}
	k := d.s[start:d.i]
	d.i++
	d.ws()
	if d.peek() != ':' {
		d.fail()
	}
	d.i++
	d.ws()
	return k
}

// str reads a string (or null, which leaves *dst as it is) into dst.
func (d *decoder) str(dst *string) {
	if !d.null() {
		*dst = d.strValue()
	}
}

// strValue reads a string and returns it unescaped.
func (d *decoder) strValue() string {
	d.open('"')
	start := d.i
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return d.s[start : d.i-1]
		case c == '\\' || c < 0x20:
			return d.unquote(start)
		case c < utf8.RuneSelf:
			d.i++
		default:
			r, size := utf8.DecodeRune(d.data[d.i:])
			if r == utf8.RuneError && size == 1 {
				return d.unquote(start)
			}
			d.i += size
		}
	}
	d.fail()
	return ""
}

// unquote reads the rest of a string that starts at start and needs
// unescaping or UTF-8 repair, exactly as encoding/json's unquote does.
func (d *decoder) unquote(start int) string {
	b := make([]byte, d.i-start, d.i-start+64)
	copy(b, d.data[start:d.i])
	for {
		c := d.peek()
		switch {
		case c == '"':
			d.i++
			return string(b)
		case c < 0x20:
			d.fail()
		case c == '\\':
			d.i++
			switch e := d.peek(); e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				d.i--
				r := d.u4()
				if r < 0 {
					d.fail()
				}
				d.i += 6
				if utf16.IsSurrogate(r) {
					if dec := utf16.DecodeRune(r, d.u4()); dec != utf8.RuneError {
						d.i += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				d.fail()
			}
			d.i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.data[d.i:])
			b = utf8.AppendRune(b, r)
			d.i += size
		}
	}
}

// u4 decodes the \uXXXX escape at the cursor without consuming it, or
// returns -1.
func (d *decoder) u4() rune {
	if len(d.data)-d.i < 6 || d.data[d.i] != '\\' || d.data[d.i+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range d.data[d.i+2 : d.i+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// number reads a number and returns its text and whether it is an integer
// (no fraction, no exponent).
func (d *decoder) number() (tok string, integer bool) {
	start := d.i
	if d.peek() == '-' {
		d.i++
	}
	digits := func() {
		n := d.i
		for d.i < len(d.data) && '0' <= d.data[d.i] && d.data[d.i] <= '9' {
			d.i++
		}
		if d.i == n {
			d.fail()
		}
	}
	if d.peek() == '0' {
		d.i++
	} else {
		digits()
	}
	integer = true
	if d.i < len(d.data) && d.data[d.i] == '.' {
		d.i++
		digits()
		integer = false
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		digits()
		integer = false
	}
	return d.s[start:d.i], integer
}

// int64v reads an integer (or null: ok false).
func (d *decoder) int64v() (v int64, ok bool) {
	if d.null() {
		return 0, false
	}
	tok, integer := d.number()
	if !integer {
		d.fail()
	}
	if n := len(tok); n <= 18 && tok[0] != '-' {
		for i := 0; i < n; i++ {
			v = v*10 + int64(tok[i]-'0')
		}
		return v, true
	}
	v, err := strconv.ParseInt(tok, 10, 64)
	if err != nil {
		d.fail()
	}
	return v, true
}

func (d *decoder) int64(dst *int64) {
	if v, ok := d.int64v(); ok {
		*dst = v
	}
}

func (d *decoder) int(dst *int) {
	if v, ok := d.int64v(); ok {
		if int64(int(v)) != v {
			d.fail()
		}
		*dst = int(v)
	}
}

func (d *decoder) duration(dst *time.Duration) { d.int64((*int64)(dst)) }

func (d *decoder) uint64(dst *uint64) {
	if d.null() {
		return
	}
	tok, integer := d.number()
	if !integer {
		d.fail()
	}
	v, err := strconv.ParseUint(tok, 10, 64)
	if err != nil {
		d.fail()
	}
	*dst = v
}

func (d *decoder) float(dst *float64) {
	if d.null() {
		return
	}
	tok, _ := d.number()
	v, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		d.fail()
	}
	*dst = v
}

func (d *decoder) bool(dst *bool) {
	switch d.peek() {
	case 't':
		d.lit("true")
		*dst = true
	case 'f':
		d.lit("false")
		*dst = false
	default:
		d.lit("null")
	}
}

// time reads a time as encoding/json does: time.Time.UnmarshalJSON on the
// value's bytes (a no-op for null).
func (d *decoder) time(dst *time.Time) {
	if d.null() {
		return
	}
	start := d.i
	_ = d.strValue()
	if err := dst.UnmarshalJSON(d.data[start:d.i]); err != nil {
		d.fail()
	}
}

// raw reads any JSON value into a json.RawMessage (its bytes, "null"
// included, as json.RawMessage.UnmarshalJSON stores them).
func (d *decoder) raw(dst *json.RawMessage) {
	start := d.i
	d.skip(0)
	*dst = append((*dst)[:0], d.data[start:d.i]...)
}

// skip reads and validates any JSON value.
func (d *decoder) skip(depth int) {
	if depth > maxSkipDepth {
		d.fail()
	}
	switch c := d.peek(); {
	case c == '{':
		d.i++
		for first := true; d.next(&first, '}'); {
			_ = d.strValue()
			d.ws()
			if d.peek() != ':' {
				d.fail()
			}
			d.i++
			d.ws()
			d.skip(depth + 1)
		}
	case c == '[':
		d.i++
		for first := true; d.next(&first, ']'); {
			d.skip(depth + 1)
		}
	case c == '"':
		_ = d.strValue()
	case c == 't':
		d.lit("true")
	case c == 'f':
		d.lit("false")
	case c == 'n':
		d.lit("null")
	default:
		d.number()
	}
}

// labels reads a map[string]string.
func (d *decoder) labels(dst *map[string]string) {
	if d.null() {
		*dst = nil
		return
	}
	if *dst != nil {
		d.fail()
	}
	d.open('{')
	m := map[string]string{}
	for first := true; d.next(&first, '}'); {
		k := d.strValue()
		d.ws()
		if d.peek() != ':' {
			d.fail()
		}
		d.i++
		d.ws()
		var v string
		d.str(&v)
		m[k] = v
	}
	*dst = m
}

// list reads an array into *dst with elem decoding each element (null
// elements are zero values).
func list[T any](d *decoder, dst *[]T, elem func(*decoder, *T)) {
	if d.null() {
		*dst = nil
		return
	}
	if *dst != nil {
		d.fail()
	}
	d.open('[')
	s := make([]T, 0)
	for first := true; d.next(&first, ']'); {
		var zero T
		s = append(s, zero)
		if !d.null() {
			elem(d, &s[len(s)-1])
		}
	}
	*dst = s
}

// ptr reads an object into *dst (allocated unless already set, as
// encoding/json does), or sets it to nil for null.
func ptr[T any](d *decoder, dst **T, obj func(*decoder, *T)) {
	if d.null() {
		*dst = nil
		return
	}
	if *dst == nil {
		*dst = new(T)
	}
	obj(d, *dst)
}

// object reads an object, calling field for each key; a null leaves the
// struct as it is.
func (d *decoder) object(field func(key string)) {
	if d.null() {
		return
	}
	d.open('{')
	for first := true; d.next(&first, '}'); {
		field(d.key())
	}
}

func (d *decoder) record(r *Record) {
	d.open('{')
	for first := true; d.next(&first, '}'); {
		switch d.key() {
		case "v":
			d.int(&r.Version)
		case "kind":
			d.str((*string)(&r.Kind))
		case "time":
			d.time(&r.Time)
		case "step":
			d.int(&r.Step)
		case "active":
			d.duration(&r.Active)
		case "agent":
			d.str(&r.Agent)
		case "input":
			list(d, &r.Input, (*decoder).message)
		case "labels":
			d.labels(&r.Labels)
		case "response":
			ptr(d, &r.Response, (*decoder).response)
		case "attempt":
			d.int(&r.Attempt)
		case "cost_usd":
			d.float(&r.CostUSD)
		case "delay":
			d.duration(&r.Delay)
		case "call":
			ptr(d, &r.Call, (*decoder).callRecord)
		case "result":
			ptr(d, &r.Result, (*decoder).toolResult)
		case "message":
			ptr(d, &r.Message, (*decoder).message)
		case "repair":
			d.bool(&r.Repair)
		case "trimmed":
			list(d, &r.Trimmed, (*decoder).int)
		case "summary":
			d.str(&r.Summary)
		case "summary_up_to":
			d.int(&r.SummaryUpTo)
		case "output":
			d.str(&r.Output)
		case "error":
			ptr(d, &r.Error, (*decoder).errorInfo)
		case "state":
			ptr(d, &r.State, (*decoder).state)
		case "messages_from":
			d.int(&r.MessagesFrom)
		case "no_messages":
			d.bool(&r.NoMessages)
		case "interrupt":
			ptr(d, &r.Interrupt, (*decoder).interrupt)
		case "answer":
			ptr(d, &r.Answer, (*decoder).answer)
		case "event":
			ptr(d, &r.Event, (*decoder).event)
		case "budget":
			ptr(d, &r.Budget, (*decoder).budget)
		case "inbox_seq":
			d.uint64(&r.InboxSeq)
		default:
			d.fail()
		}
	}
}

func (d *decoder) message(m *Message) {
	d.object(func(k string) {
		switch k {
		case "role":
			d.str((*string)(&m.Role))
		case "content":
			d.str(&m.Content)
		case "refusal":
			d.str(&m.Refusal)
		case "tool_calls":
			list(d, &m.ToolCalls, (*decoder).toolCall)
		case "tool_call_id":
			d.str(&m.ToolCallID)
		case "name":
			d.str(&m.Name)
		case "is_error":
			d.bool(&m.IsError)
		default:
			d.fail()
		}
	})
}

func (d *decoder) toolCall(c *ToolCall) {
	d.object(func(k string) {
		switch k {
		case "id":
			d.str(&c.ID)
		case "name":
			d.str(&c.Name)
		case "arguments":
			d.str(&c.Arguments)
		default:
			d.fail()
		}
	})
}

func (d *decoder) response(r *Response) {
	d.object(func(k string) {
		switch k {
		case "message":
			d.message(&r.Message)
		case "usage":
			d.usage(&r.Usage)
		case "finish_reason":
			d.str((*string)(&r.FinishReason))
		case "model":
			d.str(&r.Model)
		default:
			d.fail()
		}
	})
}

func (d *decoder) usage(u *Usage) {
	d.object(func(k string) {
		switch k {
		case "input_tokens":
			d.int64(&u.InputTokens)
		case "cached_input_tokens":
			d.int64(&u.CachedInputTokens)
		case "output_tokens":
			d.int64(&u.OutputTokens)
		case "reasoning_tokens":
			d.int64(&u.ReasoningTokens)
		default:
			d.fail()
		}
	})
}

func (d *decoder) callRecord(c *CallRecord) {
	d.object(func(k string) {
		switch k {
		case "index":
			d.int(&c.Index)
		case "id":
			d.str(&c.ID)
		case "tool":
			d.str(&c.Tool)
		case "key":
			d.str(&c.Key)
		case "attempt":
			d.int(&c.Attempt)
		default:
			d.fail()
		}
	})
}

func (d *decoder) toolResult(r *ToolResult) {
	d.object(func(k string) {
		switch k {
		case "content":
			d.str(&r.Content)
		case "is_error":
			d.bool(&r.IsError)
		case "error":
			d.str(&r.Error)
		case "duration":
			d.duration(&r.Duration)
		case "original_bytes":
			d.int(&r.OriginalBytes)
		default:
			d.fail()
		}
	})
}

func (d *decoder) errorInfo(e *ErrorInfo) {
	d.object(func(k string) {
		switch k {
		case "kind":
			d.str(&e.Kind)
		case "message":
			d.str(&e.Message)
		default:
			d.fail()
		}
	})
}

func (d *decoder) callState(c *CallState) {
	d.object(func(k string) {
		switch k {
		case "call":
			d.toolCall(&c.Call)
		case "key":
			d.str(&c.Key)
		case "started":
			d.bool(&c.Started)
		case "attempt":
			d.int(&c.Attempt)
		case "result":
			ptr(d, &c.Result, (*decoder).toolResult)
		case "approved":
			d.bool(&c.Approved)
		default:
			d.fail()
		}
	})
}

func (d *decoder) state(s *State) {
	d.object(func(k string) {
		switch k {
		case "run_id":
			d.str(&s.RunID)
		case "agent":
			d.str(&s.Agent)
		case "labels":
			d.labels(&s.Labels)
		case "status":
			d.str((*string)(&s.Status))
		case "messages":
			list(d, &s.Messages, (*decoder).message)
		case "step":
			d.int(&s.Step)
		case "calls":
			list(d, &s.Calls, (*decoder).callState)
		case "input_len":
			d.int(&s.InputLen)
		case "repairs":
			d.int(&s.Repairs)
		case "wound_down":
			d.bool(&s.WoundDown)
		case "trimmed":
			list(d, &s.Trimmed, (*decoder).int)
		case "summary":
			d.str(&s.Summary)
		case "summary_up_to":
			d.int(&s.SummaryUpTo)
		case "snapshot_seq":
			d.uint64(&s.SnapshotSeq)
		case "snapshot_messages":
			d.int(&s.SnapshotMessages)
		case "usage":
			d.usage(&s.Usage)
		case "cost_usd":
			d.float(&s.CostUSD)
		case "tool_calls":
			d.int(&s.ToolCalls)
		case "active":
			d.duration(&s.Active)
		case "output":
			d.str(&s.Output)
		case "error":
			ptr(d, &s.Error, (*decoder).errorInfo)
		case "interrupts":
			list(d, &s.Interrupts, (*decoder).interrupt)
		case "answered":
			list(d, &s.Answered, (*decoder).str)
		case "queued":
			list(d, &s.Queued, (*decoder).message)
		case "budget":
			ptr(d, &s.Budget, (*decoder).budget)
		case "inbox_seq":
			d.uint64(&s.InboxSeq)
		case "created_at":
			d.time(&s.CreatedAt)
		case "updated_at":
			d.time(&s.UpdatedAt)
		case "seq":
			d.uint64(&s.Seq)
		default:
			d.fail()
		}
	})
}

func (d *decoder) budget(b *Budget) {
	d.object(func(k string) {
		switch k {
		case "max_steps":
			d.int(&b.MaxSteps)
		case "max_wall_time":
			d.duration(&b.MaxWallTime)
		case "max_input_tokens":
			d.int64(&b.MaxInputTokens)
		case "max_output_tokens":
			d.int64(&b.MaxOutputTokens)
		case "max_total_tokens":
			d.int64(&b.MaxTotalTokens)
		case "max_cost_usd":
			d.float(&b.MaxCostUSD)
		case "max_tool_calls":
			d.int(&b.MaxToolCalls)
		case "model_timeout":
			d.duration(&b.ModelTimeout)
		case "step_timeout":
			d.duration(&b.StepTimeout)
		case "wind_down":
			d.bool(&b.WindDown)
		default:
			d.fail()
		}
	})
}

func (d *decoder) interrupt(p *PendingInterrupt) {
	d.object(func(k string) {
		switch k {
		case "id":
			d.str(&p.ID)
		case "kind":
			d.str((*string)(&p.Kind))
		case "step":
			d.int(&p.Step)
		case "call":
			d.int(&p.Call)
		case "tool":
			d.str(&p.Tool)
		case "args":
			d.str(&p.Args)
		case "prompt":
			d.str(&p.Prompt)
		case "schema":
			d.raw(&p.Schema)
		case "event":
			d.str(&p.Event)
		case "deadline":
			d.time(&p.Deadline)
		case "default":
			d.raw(&p.Default)
		default:
			d.fail()
		}
	})
}

func (d *decoder) answer(a *AnswerRecord) {
	d.object(func(k string) {
		switch k {
		case "id":
			d.str(&a.ID)
		case "value":
			d.raw(&a.Value)
		case "approved":
			d.bool(&a.Approved)
		case "reason":
			d.str(&a.Reason)
		case "defaulted":
			d.bool(&a.Defaulted)
		default:
			d.fail()
		}
	})
}

func (d *decoder) event(e *RunEvent) {
	d.object(func(k string) {
		switch k {
		case "name":
			d.str(&e.Name)
		case "data":
			d.raw(&e.Data)
		default:
			d.fail()
		}
	})
}
