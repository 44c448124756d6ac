package ratchet

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var fuzzKinds = []RecordKind{RecRunStarted, RecModelFailed, RecModelResponded, RecToolStarted, RecToolFinished,
	RecRepair, RecHistoryTrimmed, RecToolFailed, RecWindDown, RecRunPaused, RecRunResumed, RecRunCompleted,
	RecRunFailed, RecSnapshot}

// genRecord builds a record of a kind chosen by k from the fuzzer's
// values, with the fields that kind carries.
func genRecord(k uint8, step int, n int64, text string) *Record {
	text = strings.ToValidUTF8(text, "?")
	r := &Record{Version: FormatVersion, Kind: fuzzKinds[int(k)%len(fuzzKinds)], Step: step,
		Time:   time.Unix(n%(1<<34), n%1e9).UTC(),
		Active: time.Duration(n)}
	msg := Message{Role: RoleAssistant, Content: text, ToolCalls: []ToolCall{{ID: "c" + text, Name: "t", Arguments: text}}}
	switch r.Kind {
	case RecRunStarted:
		r.Agent, r.Input, r.Labels = text, []Message{{Role: RoleUser, Content: text}}, map[string]string{text: text}
	case RecModelResponded, RecModelFailed:
		r.Response = &Response{Message: msg, Usage: Usage{InputTokens: n, OutputTokens: int64(step)}, FinishReason: FinishToolCalls}
		r.Attempt, r.CostUSD, r.Delay, r.Repair = step, float64(step)/8, time.Duration(n), n%2 == 0
		r.Error = &ErrorInfo{Kind: text, Message: text}
	case RecToolStarted, RecToolFinished, RecToolFailed:
		r.Call = &CallRecord{Index: step, ID: text, Tool: text, Key: text, Attempt: step}
		r.Result = &ToolResult{Content: text, IsError: n%2 == 0, Error: text, Duration: time.Duration(n)}
	case RecRepair, RecWindDown:
		r.Message = &Message{Role: RoleUser, Content: text}
	case RecHistoryTrimmed:
		r.Trimmed, r.Summary, r.SummaryUpTo = []int{step, int(n % 100)}, text, step
	case RecRunCompleted:
		r.Output = text
	case RecRunPaused, RecRunFailed:
		r.Error = &ErrorInfo{Kind: text, Message: text}
	case RecSnapshot:
		r.State = &State{RunID: text, Agent: text, Status: StatusRunning, Messages: []Message{msg}, Step: step,
			Calls: []CallState{{Call: msg.ToolCalls[0], Key: text, Started: true}}, Labels: map[string]string{"k": text},
			Usage: Usage{InputTokens: n}, CreatedAt: r.Time, UpdatedAt: r.Time, Seq: uint64(step)}
	}
	return r
}

// canonical returns a deep copy of r with what a record's JSON text may
// carry beyond the record itself taken out: empty slices and maps become
// nil (encoding omits them, or writes null), raw JSON values take the form
// the encoder writes (compact, with <, > and & escaped), and times keep
// their instant and offset, not their *time.Location (a decoded time may be
// in time.Local, which encodes as its offset).
func canonical(t *testing.T, r *Record) *Record {
	t.Helper()
	c := reflect.New(reflect.TypeFor[Record]())
	canonicalValue(t, c.Elem(), reflect.ValueOf(r).Elem())
	return c.Interface().(*Record)
}

func canonicalValue(t *testing.T, dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if !src.IsNil() {
			dst.Set(reflect.New(src.Type().Elem()))
			canonicalValue(t, dst.Elem(), src.Elem())
		}
	case reflect.Slice:
		if src.Len() == 0 {
			return
		}
		if src.Type() == reflect.TypeFor[json.RawMessage]() {
			b, err := json.Marshal(json.RawMessage(src.Bytes()))
			require.NoError(t, err)
			dst.SetBytes(b)
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			canonicalValue(t, dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.Len() == 0 {
			return
		}
		dst.Set(reflect.MakeMapWithSize(src.Type(), src.Len()))
		for it := src.MapRange(); it.Next(); {
			e := reflect.New(src.Type().Elem()).Elem()
			canonicalValue(t, e, it.Value())
			dst.SetMapIndex(it.Key(), e)
		}
	case reflect.Struct:
		if tm, ok := src.Interface().(time.Time); ok {
			_, off := tm.Zone()
			dst.Set(reflect.ValueOf(time.Unix(tm.Unix(), int64(tm.Nanosecond())).In(time.FixedZone("", off))))
			return
		}
		for i := range src.NumField() {
			canonicalValue(t, dst.Field(i), src.Field(i))
		}
	default:
		dst.Set(src)
	}
}

// FuzzDecodeRecord checks the record format at the trust boundary of a
// stored log, as a round-trip property. Arbitrary bytes either fail to
// decode with ErrCorruptLog or ErrUnsupportedFormat, or give a record r1
// that (folded into a State, which must not panic) encodes without error
// to bytes b1 that decode to a record r2 equal to r1 up to canonical; r2
// then encodes to b1 again and decodes to r2 exactly. Generated records of
// every kind survive encode then decode unchanged.
func FuzzDecodeRecord(f *testing.F) {
	for i := range fuzzKinds {
		b, err := EncodeRecord(genRecord(uint8(i), i+1, int64(i)*1234567, "seed"))
		require.NoError(f, err)
		f.Add(b, uint8(i), i+1, int64(i), "x")
	}
	for _, s := range []string{
		`{"v":2,"kind":"run_started"}`,
		`{"v":1,"kind":"snapshot","state":{"calls":[{}],"status":"running"}}`,
		`{"v":1,"kind":"tool_finished","step":1,"call":{"index":-5}}`,
		`null`,
		`{"V":1,"KIND":"run_completed","Output":"ok","extra":{"a":[1]}}`,
		`{"v":1,"kind":"x","input":[],"labels":{},"trimmed":[],"state":{"messages":[],"calls":[],"answered":[]}}`,
		`{"v":1,"kind":"x","time":"2026-01-02T03:04:05.100+00:00","state":{"created_at":null,"updated_at":"2026-01-02T03:04:05-23:59"}}`,
		`{"v":1,"kind":"interrupted","interrupt":{"id":"a","schema":{ "type" : "object","x":[1,2.5,true,false,null,"\u00e9<>&\u2028"]},"default":null}}`,
		`{"v":1,"kind":"answered","answer":{"id":"a","value":  [ ] ,"approved":true,"defaulted":true,"reason":"r"}}`,
		`{"v":1,"kind":"event_received","event":{"name":"e","data":"s"},"budget":{"max_steps":3,"max_cost_usd":0.5,"wind_down":true}}`,
		`{"v":1,"kind":"x","labels":{"\ud83c":"\xff"},"trimmed":[1,null],"state":{"messages":[{"content":"\u00e9\"\\"}]}}`,
		`{"v":1,"kind":"x","cost_usd":-0.0,"state":{"seq":18446744073709551615,"snapshot_seq":0,"cost_usd":1E+2}}`,
	} {
		f.Add([]byte(s), uint8(len(s)), len(s)%5, int64(len(s)), "\xff é")
	}
	f.Fuzz(func(t *testing.T, data []byte, k uint8, step int, n int64, text string) {
		// Arbitrary bytes.
		r1, err := DecodeRecord(1, data)
		if err != nil {
			require.True(t, errors.Is(err, ErrCorruptLog) || errors.Is(err, ErrUnsupportedFormat), "%v", err)
		} else {
			b1, err := EncodeRecord(r1)
			require.NoError(t, err, "a decoded record must encode: %+v", r1)
			r2, err := DecodeRecord(1, b1)
			require.NoError(t, err, "re-decoding %s", b1)
			require.Equal(t, canonical(t, r1), canonical(t, r2), "input: %q\nencoded: %s", data, b1)
			b2, err := EncodeRecord(r2)
			require.NoError(t, err)
			require.Equal(t, string(b1), string(b2), "not a fixed point")
			r3, err := DecodeRecord(1, b2)
			require.NoError(t, err)
			require.Equal(t, r2, r3)

			// Folding what decodes never panics.
			var s State
			_ = s.Apply(r1)
			if r1.Kind != RecRunStarted && r1.Kind != RecSnapshot {
				s = State{Status: StatusRunning, Step: 1, Calls: []CallState{{Call: ToolCall{ID: "a"}}}, Seq: 1}
				r1.Seq = 2
				_ = s.Apply(r1)
			}
		}
		// Generated records round-trip.
		want := genRecord(k, step, n, text)
		b, err := EncodeRecord(want)
		require.NoError(t, err)
		got, err := DecodeRecord(7, b)
		require.NoError(t, err)
		want.Seq = 7
		require.Equal(t, want, got)
	})
}

// TestAppendEncodedRecord: appendEncodedRecord appends EncodeRecord's
// bytes to what b holds, and leaves b as it was on an error.
func TestAppendEncodedRecord(t *testing.T) {
	t.Parallel()
	r := genRecord(3, 2, 99, "<x>")
	want, err := EncodeRecord(r)
	require.NoError(t, err)
	b, err := appendEncodedRecord([]byte("prefix"), r)
	require.NoError(t, err)
	require.Equal(t, "prefix"+string(want), string(b))
	b, err = appendEncodedRecord(b, r)
	require.NoError(t, err)
	require.Equal(t, "prefix"+string(want)+string(want), string(b))

	bad := &Record{Version: 1, Kind: RecUsage, CostUSD: math.NaN()}
	out, err := appendEncodedRecord([]byte("prefix"), bad)
	require.Error(t, err)
	require.Equal(t, "prefix", string(out))
}
