package ratchet

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEncodedRecord appends the encoding of r (see EncodeRecord) to b.
// On an error it returns b unchanged.
//
// The records a step appends (model and tool records, repairs, ends) are
// written by appendRecord, without reflection: json.Marshal was 12% of the
// Scheduler throughput benchmark's CPU and most of a step's allocations.
// Both give the same JSON object (TestRecordFormatIsStable,
// TestEncodeRecordMatchesEncodingJSON); the other records, and any value
// appendRecord does not handle, go through encoding/json.
func appendEncodedRecord(b []byte, r *Record) ([]byte, error) {
	if r.State != nil || r.Labels != nil || r.Trimmed != nil ||
		r.Interrupt != nil || r.Answer != nil || r.Event != nil || r.InboxSeq != 0 ||
		r.Response != nil && r.Response.Message.ToolCallID != "" || badFloat(r.CostUSD) || r.Budget != nil ||
		r.MessagesFrom != 0 || r.NoMessages || !jsonYear(r.Time) {
		j, err := json.Marshal(r)
		if err != nil {
			return b, err
		}
		return append(b, j...), nil
	}
	return appendRecord(b, r), nil
}

// jsonYear reports whether encoding/json can encode t (RFC 3339 needs a
// four-digit year).
func jsonYear(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }

func badFloat(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }

func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(r.Kind))
	b = append(b, `,"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendIntField(b, "step", int64(r.Step))
	b = appendIntField(b, "active", int64(r.Active))
	if r.Agent != "" {
		b = append(b, `,"agent":`...)
		b = appendString(b, r.Agent)
	}
	if len(r.Input) > 0 {
		b = append(b, `,"input":[`...)
		for i := range r.Input {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMessage(b, &r.Input[i])
		}
		b = append(b, ']')
	}
	if resp := r.Response; resp != nil {
		b = append(b, `,"response":{"message":`...)
		b = appendMessage(b, &resp.Message)
		if resp.Usage != (Usage{}) {
			b = append(b, `,"usage":{`...)
			n := len(b)
			b = appendIntField(b, "input_tokens", resp.Usage.InputTokens)
			b = appendIntField(b, "cached_input_tokens", resp.Usage.CachedInputTokens)
			b = appendIntField(b, "output_tokens", resp.Usage.OutputTokens)
			b = appendIntField(b, "reasoning_tokens", resp.Usage.ReasoningTokens)
			b[n] = '{'
			b = append(b[:n-1], b[n:]...) // drop the leading comma inside the object
			b = append(b, '}')
		}
		b = append(b, `,"finish_reason":`...)
		b = appendString(b, string(resp.FinishReason))
		if resp.Model != "" {
			b = append(b, `,"model":`...)
			b = appendString(b, resp.Model)
		}
		b = append(b, '}')
	}
	b = appendIntField(b, "attempt", int64(r.Attempt))
	if r.CostUSD != 0 {
		b = append(b, `,"cost_usd":`...)
		b = strconv.AppendFloat(b, r.CostUSD, 'g', -1, 64)
	}
	b = appendIntField(b, "delay", int64(r.Delay))
	if c := r.Call; c != nil {
		b = append(b, `,"call":{"index":`...)
		b = strconv.AppendInt(b, int64(c.Index), 10)
		b = append(b, `,"id":`...)
		b = appendString(b, c.ID)
		b = append(b, `,"tool":`...)
		b = appendString(b, c.Tool)
		b = append(b, `,"key":`...)
		b = appendString(b, c.Key)
		b = appendIntField(b, "attempt", int64(c.Attempt))
		b = append(b, '}')
	}
	if res := r.Result; res != nil {
		b = append(b, `,"result":{"content":`...)
		b = appendString(b, res.Content)
		if res.IsError {
			b = append(b, `,"is_error":true`...)
		}
		if res.Error != "" {
			b = append(b, `,"error":`...)
			b = appendString(b, res.Error)
		}
		b = appendIntField(b, "duration", int64(res.Duration))
		b = appendIntField(b, "original_bytes", int64(res.OriginalBytes))
		b = append(b, '}')
	}
	if r.Repair {
		b = append(b, `,"repair":true`...)
	}
	if r.Summary != "" {
		b = append(b, `,"summary":`...)
		b = appendString(b, r.Summary)
	}
	b = appendIntField(b, "summary_up_to", int64(r.SummaryUpTo))
	if r.Message != nil {
		b = append(b, `,"message":`...)
		b = appendMessage(b, r.Message)
	}
	if r.Output != "" {
		b = append(b, `,"output":`...)
		b = appendString(b, r.Output)
	}
	if e := r.Error; e != nil {
		b = append(b, `,"error":{"kind":`...)
		b = appendString(b, e.Kind)
		b = append(b, `,"message":`...)
		b = appendString(b, e.Message)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendMessage encodes m as Message's JSON tags say (tool_call_id is not
// used in records taking this path).
func appendMessage(b []byte, m *Message) []byte {
	b = append(b, `{"role":`...)
	b = appendString(b, string(m.Role))
	if m.Content != "" {
		b = append(b, `,"content":`...)
		b = appendString(b, m.Content)
	}
	if m.Refusal != "" {
		b = append(b, `,"refusal":`...)
		b = appendString(b, m.Refusal)
	}
	if len(m.ToolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, c := range m.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendString(b, c.ID)
			b = append(b, `,"name":`...)
			b = appendString(b, c.Name)
			b = append(b, `,"arguments":`...)
			b = appendString(b, c.Arguments)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if m.ToolCallID != "" {
		b = append(b, `,"tool_call_id":`...)
		b = appendString(b, m.ToolCallID)
	}
	if m.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, m.Name)
	}
	if m.IsError {
		b = append(b, `,"is_error":true`...)
	}
	return append(b, '}')
}

func appendIntField(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, as encoding/json would decode it
// back: invalid UTF-8 becomes U+FFFD, control characters are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
