package store

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// marshalMeta returns json.Marshal(m). Every append writes its run's Meta
// into the log, so the usual case is encoded by hand (the same bytes,
// checked by a differential test and fuzzing); anything unusual (a status
// that needs escaping, a year outside 0-9999, a cost that is not a finite
// number or is -0) goes to encoding/json.
func marshalMeta(m *Meta) ([]byte, error) {
	if b, ok := appendMeta(make([]byte, 0, 192), m); ok {
		return b, nil
	}
	return json.Marshal(m)
}

// appendMeta appends m as json.Marshal encodes it, or reports false.
func appendMeta(b []byte, m *Meta) ([]byte, bool) {
	if !plainString(m.Status) || !plainTime(m.UpdatedAt) || !plainTime(m.WakeAt) {
		return b, false
	}
	t := &m.Totals
	if math.IsNaN(t.CostUSD) || math.IsInf(t.CostUSD, 0) || (t.CostUSD == 0 && math.Signbit(t.CostUSD)) {
		return b, false
	}
	b = append(b, `{"status":"`...)
	b = append(b, m.Status...)
	b = append(b, `","updated_at":"`...)
	b = m.UpdatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if !m.WakeAt.IsZero() {
		b = append(b, `,"wake_at":"`...)
		b = m.WakeAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if m.SnapshotSeq != 0 {
		b = append(b, `,"snapshot_seq":`...)
		b = strconv.AppendUint(b, m.SnapshotSeq, 10)
	}
	if *t != (Totals{}) {
		b = append(b, `,"totals":{`...)
		sep := byte(0) // no comma before the first field
		for _, f := range [...]struct {
			name string
			v    int64
		}{{"steps", t.Steps}, {"input_tokens", t.InputTokens}, {"output_tokens", t.OutputTokens}, {"tool_calls", t.ToolCalls}} {
			if f.v != 0 {
				b = appendKey(b, sep, f.name)
				b = strconv.AppendInt(b, f.v, 10)
				sep = ','
			}
		}
		if t.CostUSD != 0 {
			b = appendKey(b, sep, "cost_usd")
			b = appendFloat(b, t.CostUSD)
		}
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// appendKey appends sep (unless 0) and "name":.
func appendKey(b []byte, sep byte, name string) []byte {
	if sep != 0 {
		b = append(b, sep)
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// plainString reports whether s encodes as itself between quotes:
// printable ASCII without the characters encoding/json escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// plainTime reports whether t's JSON form is its RFC 3339 text, which
// Time.MarshalJSON requires a four-digit year for.
func plainTime(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// appendFloat formats a finite f as encoding/json does: the shortest
// decimal that reads back as f, in exponent form only for very small or
// very large magnitudes, with a one-digit negative exponent not padded.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
