package ratchet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
	"github.com/stretchr/testify/require"
)

var updateRecordFormat = flag.Bool("update-record-format", false, "rewrite "+recordFormatFile+" with today's encoder")

// recordFormatFile holds formatRecords as an earlier version encoded them
// (its hand-written encoder for the step loop's records, encoding/json for
// the rest), one JSON object a line.
const recordFormatFile = "testdata/record-format-v1.jsonl"

// awkward is a string whose JSON form needs every kind of escape.
const awkward = "quote\" back\\ slash / <html>&amp; \u2028\u2029 \x00\x01\x1f\x7f ctl \n\r\t é ü 日本 🎉"

// formatRecords are records of every kind, with every field the kind
// carries set (and, in the snapshot, every field of State).
func formatRecords() []*ratchet.Record {
	zone := time.FixedZone("", 5*3600+30*60) // JSON times keep offsets, not zone names
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	msgs := []ratchet.Message{
		{Role: ratchet.RoleSystem, Content: "be brief"},
		{Role: ratchet.RoleUser, Content: awkward, Name: "ann"},
		{Role: ratchet.RoleAssistant, Content: "calling", Refusal: "no", ToolCalls: []ratchet.ToolCall{
			{ID: "c1", Name: "add", Arguments: `{"a":1,"b":2}`}, {ID: "c2", Name: "note", Arguments: awkward}}},
		{Role: ratchet.RoleTool, ToolCallID: "c1", Name: "add", Content: "3"},
		{Role: ratchet.RoleTool, ToolCallID: "c2", Name: "note", Content: "failed", IsError: true},
	}
	resp := &ratchet.Response{Message: msgs[2], Usage: ratchet.Usage{InputTokens: 1000, CachedInputTokens: 200, OutputTokens: 20, ReasoningTokens: 5},
		FinishReason: ratchet.FinishToolCalls, Model: "m-1"}
	call := &ratchet.CallRecord{Index: 1, ID: "c2", Tool: "note", Key: "run/1/1", Attempt: 2}
	res := &ratchet.ToolResult{Content: awkward, IsError: true, Error: "tool", Duration: 1500 * time.Millisecond, OriginalBytes: 70000}
	budget := &ratchet.Budget{MaxSteps: 7, MaxWallTime: time.Hour, MaxInputTokens: 1 << 40, MaxOutputTokens: 9, MaxTotalTokens: 10,
		MaxCostUSD: 0.5, MaxToolCalls: 11, ModelTimeout: time.Minute, StepTimeout: 2 * time.Minute, WindDown: true}
	pending := ratchet.PendingInterrupt{ID: "run/2/0", Kind: ratchet.InterruptQuestion, Step: 2, Call: 0, Tool: "ask", Args: `{"q":"?"}`,
		Prompt: "Which city?", Schema: json.RawMessage(`{"type":"string","enum":["Paris","Lyon"]}`), Event: "e",
		Deadline: t0.Add(48 * time.Hour).In(zone), Default: json.RawMessage(`"Paris"`)}
	answer := &ratchet.AnswerRecord{ID: "run/2/0", Answer: ratchet.Answer{Value: json.RawMessage(`{"city":"Lyon","n":[1,2.5,true,null]}`),
		Approved: true, Reason: "fine"}, Defaulted: true}
	state := &ratchet.State{
		RunID: "run", Agent: "agent", Labels: map[string]string{"team": "a", "<k>": awkward}, Status: ratchet.StatusWaiting,
		Messages: msgs, Step: 2, Calls: []ratchet.CallState{
			{Call: msgs[2].ToolCalls[0], Key: "run/2/0", Started: true, Attempt: 1, Result: res, Approved: true},
			{Call: msgs[2].ToolCalls[1], Key: "run/2/1"},
		},
		InputLen: 2, Repairs: 1, WoundDown: true, Trimmed: []int{0, 3}, Summary: "so far", SummaryUpTo: 4,
		SnapshotSeq: 12, SnapshotMessages: 5, Usage: resp.Usage, CostUSD: math.Nextafter(0.3, 1), ToolCalls: 3, Active: 1234567890,
		Output: "out", Error: &ratchet.ErrorInfo{Kind: "budget:steps", Message: "too many"},
		Interrupts: []ratchet.PendingInterrupt{pending}, Answered: []string{"run/1/0"},
		Queued:   []ratchet.Message{{Role: ratchet.RoleUser, Content: "later"}},
		InboxSeq: 4, Budget: budget, CreatedAt: t0, UpdatedAt: t0.Add(time.Second).In(zone), Seq: 20,
	}
	rec := func(kind ratchet.RecordKind, step int, r ratchet.Record) *ratchet.Record {
		r.Version, r.Kind, r.Step = 1, kind, step
		r.Time = t0.Add(time.Duration(step) * time.Minute)
		r.Active = time.Duration(step) * 1001
		return &r
	}
	return []*ratchet.Record{
		{Version: 1, Kind: ratchet.RecToolStarted, Call: &ratchet.CallRecord{}}, // zero time, index 0: the fields without omitempty
		rec(ratchet.RecRunStarted, 0, ratchet.Record{Agent: "agent", Input: msgs[:2], Labels: map[string]string{"team": "a"}}),
		rec(ratchet.RecModelFailed, 1, ratchet.Record{Attempt: 1, Delay: 250 * time.Millisecond, Repair: true,
			Error: &ratchet.ErrorInfo{Kind: "rate_limited", Message: awkward}}),
		rec(ratchet.RecModelResponded, 1, ratchet.Record{Response: resp, Attempt: 2, CostUSD: math.Nextafter(0.3, 1), Repair: true}),
		rec(ratchet.RecModelResponded, 2, ratchet.Record{Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant},
			FinishReason: ratchet.FinishStop}, CostUSD: 1e-7}),
		rec(ratchet.RecToolStarted, 1, ratchet.Record{Call: call}),
		rec(ratchet.RecToolFailed, 1, ratchet.Record{Call: call, Result: res, Delay: time.Second}),
		rec(ratchet.RecToolFinished, 1, ratchet.Record{Call: call, Result: res}),
		rec(ratchet.RecToolFinished, 1, ratchet.Record{Call: &ratchet.CallRecord{ID: "c1", Tool: "add", Key: "run/1/0"},
			Result: &ratchet.ToolResult{Content: ""}}),
		rec(ratchet.RecRepair, 1, ratchet.Record{Message: &ratchet.Message{Role: ratchet.RoleUser, Content: awkward}}),
		rec(ratchet.RecWindDown, 1, ratchet.Record{Message: &ratchet.Message{Role: ratchet.RoleUser, Content: "answer now"}}),
		rec(ratchet.RecHistoryTrimmed, 2, ratchet.Record{Trimmed: []int{1, 2}, Summary: awkward, SummaryUpTo: 3}),
		rec(ratchet.RecUsage, 2, ratchet.Record{Response: &ratchet.Response{Usage: ratchet.Usage{InputTokens: 5}, Model: "m"}, CostUSD: 1e21}),
		rec(ratchet.RecInterrupted, 2, ratchet.Record{Interrupt: &pending}),
		rec(ratchet.RecAnswered, 2, ratchet.Record{Answer: answer, InboxSeq: 3}),
		rec(ratchet.RecEventReceived, 2, ratchet.Record{Event: &ratchet.RunEvent{Name: "paid", Data: json.RawMessage(`{"amount":12.5}`)}, InboxSeq: 4}),
		rec(ratchet.RecRunPaused, 2, ratchet.Record{Error: &ratchet.ErrorInfo{Kind: "budget:cost", Message: "over"}}),
		rec(ratchet.RecRunResumed, 2, ratchet.Record{Budget: budget}),
		rec(ratchet.RecSnapshot, 2, ratchet.Record{State: state, MessagesFrom: 2}),
		rec(ratchet.RecSnapshot, 2, ratchet.Record{State: &ratchet.State{RunID: "run", Status: ratchet.StatusRunning, SnapshotMessages: 5}, NoMessages: true}),
		rec(ratchet.RecRunCompleted, 3, ratchet.Record{Output: awkward}),
		rec(ratchet.RecRunFailed, 3, ratchet.Record{Error: &ratchet.ErrorInfo{Kind: "parse", Message: "bad"}}),
		rec(ratchet.RecRunCancelled, 3, ratchet.Record{Error: &ratchet.ErrorInfo{Kind: "cancelled", Message: "by op"}}),
	}
}

// TestRecordFormatIsStable holds today's encoding to the records an
// earlier version wrote (recordFormatFile): each line decodes to the
// record it was made of, and encoding that record gives the same JSON
// object (the same fields present and omitted, the same values). The
// bytes may differ where JSON allows: encoding/json escapes <, > and &.
func TestRecordFormatIsStable(t *testing.T) {
	t.Parallel()
	recs := formatRecords()
	if *updateRecordFormat {
		var out bytes.Buffer
		for _, r := range recs {
			b, err := ratchet.EncodeRecord(r)
			require.NoError(t, err)
			out.Write(b)
			out.WriteByte('\n')
		}
		require.NoError(t, os.WriteFile(recordFormatFile, out.Bytes(), 0o644))
	}
	f, err := os.Open(recordFormatFile)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var lines [][]byte
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	require.NoError(t, sc.Err())
	require.Len(t, lines, len(recs))
	for i, want := range recs {
		got, err := ratchet.DecodeRecord(uint64(i+1), lines[i])
		require.NoError(t, err, "line %d", i+1)
		want.Seq = uint64(i + 1)
		require.Equal(t, want, got, "line %d: %s", i+1, lines[i])
		b, err := ratchet.EncodeRecord(want)
		require.NoError(t, err)
		require.Equal(t, jsonValue(t, lines[i]), jsonValue(t, b), "line %d\nwas: %s\nnow: %s", i+1, lines[i], b)
	}
}

// TestEncodeRecordKeepsEveryField sets each field of Record in turn and
// checks that it survives EncodeRecord and DecodeRecord, then sets them
// all (every field of every type a Record reaches): a field added with a
// missing or mistyped JSON tag fails here.
func TestEncodeRecordKeepsEveryField(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeOf(ratchet.Record{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Name == "Version" || f.Name == "Kind" || f.Name == "Seq" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			r := ratchet.Record{Version: 1, Kind: ratchet.RecToolFinished, Time: time.Unix(5, 0).UTC()}
			v := reflect.ValueOf(&r).Elem().Field(i)
			fillNonZero(t, v)
			data, err := ratchet.EncodeRecord(&r)
			require.NoError(t, err)
			got, err := ratchet.DecodeRecord(0, data)
			require.NoError(t, err)
			require.Equal(t, v.Interface(), reflect.ValueOf(got).Elem().Field(i).Interface(), "%s lost: %s", f.Name, data)
		})
	}
	var full ratchet.Record
	fillNonZero(t, reflect.ValueOf(&full).Elem())
	full.Version = ratchet.FormatVersion
	data, err := ratchet.EncodeRecord(&full)
	require.NoError(t, err)
	got, err := ratchet.DecodeRecord(full.Seq, data)
	require.NoError(t, err)
	require.Equal(t, &full, got, "%s", data)
}

// TestEncodeRecordRejectsValuesWithoutJSON: a record holding a value JSON
// cannot represent (a cost that is not a finite number, a time outside
// the years 0-9999) is an encoding error that errors.As opens, never a
// record that would not decode.
func TestEncodeRecordRejectsValuesWithoutJSON(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]*ratchet.Record{
		"NaN cost":          {Version: 1, Kind: ratchet.RecModelResponded, CostUSD: math.NaN()},
		"infinite cost":     {Version: 1, Kind: ratchet.RecUsage, CostUSD: math.Inf(-1)},
		"NaN state cost":    {Version: 1, Kind: ratchet.RecSnapshot, State: &ratchet.State{CostUSD: math.NaN()}},
		"NaN budget":        {Version: 1, Kind: ratchet.RecRunResumed, Budget: &ratchet.Budget{MaxCostUSD: math.Inf(1)}},
		"year 10000":        {Version: 1, Kind: ratchet.RecRunCompleted, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"deadline before 0": {Version: 1, Kind: ratchet.RecInterrupted, Interrupt: &ratchet.PendingInterrupt{Deadline: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}},
		"bad raw JSON":      {Version: 1, Kind: ratchet.RecAnswered, Answer: &ratchet.AnswerRecord{Answer: ratchet.Answer{Value: json.RawMessage(`{"a":`)}}},
	} {
		b, err := ratchet.EncodeRecord(r)
		require.Error(t, err, name)
		require.Empty(t, b, name)
		var uv *json.UnsupportedValueError
		var me *json.MarshalerError
		require.True(t, errors.As(err, &uv) || errors.As(err, &me), "%s: %v (%T)", name, err, err)
	}
}

// fillNonZero sets v to a non-zero value (recursively for structs,
// pointers, slices and maps).
func fillNonZero(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x\"y<")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Uint64, reflect.Uint:
		v.SetUint(7)
	case reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillNonZero(t, v.Elem())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // json.RawMessage
			v.SetBytes([]byte(`{"a":1}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillNonZero(t, s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fillNonZero(t, k)
		e := reflect.New(v.Type().Elem()).Elem()
		fillNonZero(t, e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(9, 0).UTC()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillNonZero(t, v.Field(i))
			}
		}
	case reflect.Interface:
		v.Set(reflect.ValueOf("x"))
	default:
		t.Fatalf("cannot fill %s", v.Type())
	}
}

// TestEncodeRecordMatchesEncodingJSON: the hand-written encoder of the
// step's records gives the JSON object encoding/json gives, for every
// kind and field (formatRecords) and every record scripted runs store.
func TestEncodeRecordMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	recs := formatRecords()
	for _, data := range storedRecords(t) {
		r, err := ratchet.DecodeRecord(1, data)
		require.NoError(t, err)
		recs = append(recs, r)
	}
	for _, r := range recs {
		got, err := ratchet.EncodeRecord(r)
		require.NoError(t, err)
		want, err := json.Marshal(r)
		require.NoError(t, err)
		require.Equal(t, jsonValue(t, want), jsonValue(t, got), "encoding/json: %s\nencoder:       %s", want, got)
	}
}

// storedRecords returns records as stores hold them: those of scripted
// runs (snapshots included), of a long run with snapshots, and of the
// golden store, written by an earlier version of the code (interrupts,
// approvals, events).
func storedRecords(t *testing.T) [][]byte {
	ctx := context.Background()
	var out [][]byte
	for seed := uint64(0); seed < 60; seed++ {
		st := store.NewMemory(nil)
		var c counter
		_, err := newScriptAgent(t, st, genScript(seed).model(t), &c, int(seed%4)).Run(ctx, "go \"quoted\" <é> & \u2028", nil)
		require.NoError(t, err)
		srs, err := st.Read(ctx, "run", 1)
		require.NoError(t, err)
		for _, sr := range srs {
			out = append(out, sr.Data)
		}
	}
	srs, err := longRun(t, 60, 16).Read(ctx, "run", 1)
	require.NoError(t, err)
	for _, sr := range srs {
		out = append(out, sr.Data)
	}
	return append(out, goldenStoreRecords(t)...)
}

// goldenStoreRecords returns the records of testdata/golden-store-v1 (read
// from a copy: opening a File store may write to its directory).
func goldenStoreRecords(t *testing.T) [][]byte {
	ctx := context.Background()
	dir := t.TempDir()
	entries, err := os.ReadDir(goldenStoreDir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(goldenStoreDir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600))
	}
	fs, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	defer fs.Close()
	infos, err := fs.List(ctx, store.Query{})
	require.NoError(t, err)
	require.NotEmpty(t, infos)
	var out [][]byte
	for _, info := range infos {
		srs, err := fs.Read(ctx, info.ID, 1)
		require.NoError(t, err)
		for _, sr := range srs {
			out = append(out, sr.Data)
		}
	}
	return out
}

// jsonValue decodes data as a generic JSON value, with numbers as their
// values (int64 or uint64 for integers, float64 otherwise), not their
// text: 1e-07 and 1e-7 are the same number.
func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v), "%s", data)
	return numbers(t, v)
}

func numbers(t *testing.T, v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u
		}
		f, err := strconv.ParseFloat(string(v), 64)
		require.NoError(t, err)
		return f
	case []any:
		for i := range v {
			v[i] = numbers(t, v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = numbers(t, v[k])
		}
	}
	return v
}

// TestStoredRecordsKeepTheirShape decodes every stored record (including
// the golden store's, written by the hand-written encoder of earlier
// versions; TestRecordFormatIsStable covers the other kinds) and encodes
// it again: the result is the same JSON object, with
// the same fields present and omitted and the same values. The struct
// tags are the one definition of the format the logs hold.
func TestStoredRecordsKeepTheirShape(t *testing.T) {
	t.Parallel()
	kinds := map[string]bool{}
	for _, data := range storedRecords(t) {
		r, err := ratchet.DecodeRecord(1, data)
		require.NoError(t, err, "%s", data)
		again, err := ratchet.EncodeRecord(r)
		require.NoError(t, err)
		require.Equal(t, jsonValue(t, data), jsonValue(t, again), "stored:  %s\nencoded: %s", data, again)
		kinds[string(r.Kind)] = true
	}
	for _, k := range []ratchet.RecordKind{ratchet.RecRunStarted, ratchet.RecModelResponded, ratchet.RecToolStarted,
		ratchet.RecToolFinished, ratchet.RecRunCompleted, ratchet.RecSnapshot} {
		require.True(t, kinds[string(k)], "no %s record among the stored records", k)
	}
}

// TestDecodeRecordErrors: bytes that are not a record give ErrCorruptLog,
// naming the record's sequence; a record of a newer format version gives
// ErrUnsupportedFormat.
func TestDecodeRecordErrors(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		``, ` `, `null`, `[]`, `"x"`, `{`, `{}`, `{"v":1,"kind":"x"} x`, `{"v":1,"kind":"x"}{}`, `{"v":1,"kind":"x",}`,
		`{"v":1 "kind":"x"}`, `{"kind":"x"}`, `{"v":1}`, `{"v":0,"kind":"x"}`, `{"v":-1,"kind":"x"}`, `{"v":1,"kind":""}`,
		`{"v":1.5,"kind":"x"}`, `{"v":"1","kind":"x"}`, `{"v":1,"kind":1}`, `{"v":1,"kind":"x","step":1.5}`,
		`{"v":1,"kind":"x","repair":"true"}`, `{"v":1,"kind":"x","cost_usd":1e400}`, `{"v":1,"kind":"x","state":{"seq":-1}}`,
		`{"v":1,"kind":"x","time":"yesterday"}`, `{"v":1,"kind":"x","time":12}`, `{"v":1,"kind":"x","input":[1]}`,
		`{"v":1,"kind":"x","labels":{"a":1}}`, `{"v":1,"kind":"x","answer":{"value":tru}}`, `{"v":1,"kind":"x","\x"}`,
		"\xef\xbb\xbf{\"v\":1,\"kind\":\"x\"}", `{"v":1,"kind":"x","answer":{"value":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`,
	} {
		r, err := ratchet.DecodeRecord(42, []byte(s))
		require.ErrorIs(t, err, ratchet.ErrCorruptLog, "%.80s", s)
		require.NotErrorIs(t, err, ratchet.ErrUnsupportedFormat)
		require.Contains(t, err.Error(), "record 42")
		require.Nil(t, r)
	}
	r, err := ratchet.DecodeRecord(42, []byte(`{"v":2,"kind":"run_started"}`))
	require.ErrorIs(t, err, ratchet.ErrUnsupportedFormat)
	require.NotErrorIs(t, err, ratchet.ErrCorruptLog)
	require.Contains(t, err.Error(), "record 42 has version 2")
	require.Nil(t, r)
}

// TestDecodeRecordReadsAsEncodingJSON: DecodeRecord reads records by
// encoding/json's rules (unknown keys ignored, keys matched without
// regard to case, the last of repeated keys wins, null leaves a field as
// it is), so a log edited by hand or by another tool reads as it would
// with any JSON library.
func TestDecodeRecordReadsAsEncodingJSON(t *testing.T) {
	t.Parallel()
	r, err := ratchet.DecodeRecord(3, []byte(`{"V":1,"KIND":"run_completed","Output":"ok","extra":{"a":[1]}}`))
	require.NoError(t, err)
	require.Equal(t, &ratchet.Record{Version: 1, Kind: ratchet.RecRunCompleted, Output: "ok", Seq: 3}, r)
	r, err = ratchet.DecodeRecord(4, []byte(` {"v":1,"kind":"x","kind":"repair","step":2,"step":null,"message":{"role":"user","content":"\u00e9\ud83c\udf89 \ud83c"}} `))
	require.NoError(t, err)
	require.Equal(t, &ratchet.Record{Version: 1, Kind: ratchet.RecRepair, Step: 2, Seq: 4,
		Message: &ratchet.Message{Role: ratchet.RoleUser, Content: "é🎉 \ufffd"}}, r)
}

// BenchmarkDecodeRecord measures DecodeRecord on the snapshot record of a
// 1,000-step run (~230 KB, what Agent.Resume decodes) and on a
// tool_finished record.
func BenchmarkDecodeRecord(b *testing.B) {
	ctx := context.Background()
	srs, err := longRun(b, 1000, 0).Read(ctx, "run", 1)
	require.NoError(b, err)
	var tool []byte
	for _, sr := range srs {
		if strings.Contains(string(sr.Data), `"kind":"tool_finished"`) {
			tool = sr.Data
		}
	}
	// A snapshot of the finished run, as Agent.Resume reads it.
	var s ratchet.State
	for _, sr := range srs {
		r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		require.NoError(b, err)
		require.NoError(b, s.Apply(r))
	}
	snap, err := ratchet.EncodeRecord(&ratchet.Record{Version: 1, Kind: ratchet.RecSnapshot, State: &s})
	require.NoError(b, err)
	for _, c := range []struct {
		name string
		data []byte
	}{{"snapshot", snap}, {"tool_finished", tool}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ratchet.DecodeRecord(1, c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
