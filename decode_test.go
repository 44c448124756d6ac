package ratchet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// checkFast decodes data with the fast path and with encoding/json: when the
// fast path succeeds, encoding/json must succeed with the same record. It
// returns whether the fast path succeeded.
func checkFast(t testing.TB, data []byte) bool {
	t.Helper()
	var fast ratchet.Record
	ok := ratchet.DecodeRecordFast(data, &fast)
	var std ratchet.Record
	err := json.Unmarshal(data, &std)
	if ok {
		require.NoError(t, err, "fast path accepted what encoding/json rejects: %q", data)
		require.Equal(t, std, fast, "input: %q", data)
	}
	return ok
}

// realRecords returns the records of scripted runs (snapshots included),
// of a long run with snapshots, and of the golden store (interrupts,
// approvals, events).
func realRecords(t testing.TB) [][]byte {
	ctx := context.Background()
	var out [][]byte
	for seed := uint64(0); seed < 60; seed++ {
		st := store.NewMemory()
		var c counter
		_, err := newScriptAgent(t.(*testing.T), st, genScript(seed).model(t.(*testing.T)), &c, int(seed%4)).Run(ctx, "go \"quoted\" é \u2028", nil)
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
	dir := t.(*testing.T).TempDir()
	entries, err := os.ReadDir(goldenStoreDir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(goldenStoreDir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600))
	}
	fs, err := store.NewFile(dir)
	require.NoError(t, err)
	defer fs.Close()
	infos, err := fs.List(ctx, store.Query{})
	require.NoError(t, err)
	require.NotEmpty(t, infos)
	for _, info := range infos {
		srs, err := fs.Read(ctx, info.ID, 1)
		require.NoError(t, err)
		for _, sr := range srs {
			out = append(out, sr.Data)
		}
	}
	return out
}

// TestDecodeRecordFastMatchesEncodingJSON is a differential test of the
// fast-path decoder against encoding/json: real records (which must all
// take the fast path), records with every field set, and crafted inputs.
func TestDecodeRecordFastMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	kinds := map[string]bool{}
	for _, data := range realRecords(t) {
		require.True(t, checkFast(t, data), "a real record fell back: %s", data)
		var probe struct{ Kind string }
		require.NoError(t, json.Unmarshal(data, &probe))
		kinds[probe.Kind] = true
	}
	for _, k := range []ratchet.RecordKind{ratchet.RecSnapshot, ratchet.RecToolFinished, ratchet.RecModelResponded} {
		require.True(t, kinds[string(k)], "no %s record among the real records", k)
	}

	// Every field of Record and of the types it reaches, set: a field added
	// to one of them but not to the decoder fails here.
	var full ratchet.Record
	fillNonZero(t, reflect.ValueOf(&full).Elem())
	full.Seq = 0
	data, err := json.Marshal(&full)
	require.NoError(t, err)
	require.True(t, checkFast(t, data), "a record with every field set fell back: %s", data)

	for _, s := range []string{"", "plain", `quote\" back\\ slash\/`, `\b\f\n\r\t`, `\u0000\u001f\u00e9\u2028`,
		`\ud83c\udf89 pair`, `\ud83c lone high`, `\udf89 lone low`, `\ud83c\ud83c\udf89 high high low`, `\ud83c\u0041`,
		"é ü 日本 🎉", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate in utf8", "\xef\xbf\xbd", `\uFFFD\uDBFF\uDFFF`} {
		for _, rec := range []string{
			`{"v":1,"kind":"tool_finished","call":{"index":1,"id":"%[1]s","tool":"%[1]s","key":"%[1]s"},"result":{"content":"%[1]s","error":"%[1]s"}}`,
			`{"v":1,"kind":"run_started","agent":"%[1]s","labels":{"%[1]s":"%[1]s","b":null},"input":[{"role":"user","content":"%[1]s"},null]}`,
		} {
			require.True(t, checkFast(t, []byte(fmt.Sprintf(rec, s))), "%s", s)
		}
	}
	fastOK := []string{
		` {"v":1,"kind":"x"} `,
		"\t\n{\r\"v\" : 1 , \"kind\" :\"x\"}\n",
		`{"v":1,"kind":"x","v":2,"kind":null}`, // duplicates: last wins; null keeps
		`{"v":1,"kind":"x","response":{"usage":{"input_tokens":1}},"response":{"usage":{"output_tokens":2}}}`, // merge
		`{"v":1,"kind":"x","call":null,"result":null,"state":null,"input":null,"labels":null,"trimmed":null}`,
		`{"v":1,"kind":"x","input":[],"labels":{},"trimmed":[],"state":{"messages":[],"calls":[],"answered":[]}}`,
		`{"v":1,"kind":"x","trimmed":[1,null,-0,9223372036854775807,-9223372036854775808]}`,
		`{"v":1,"kind":"x","cost_usd":1.5e-3,"step":0,"active":-5,"delay":1000000000000000000}`,
		`{"v":1,"kind":"x","cost_usd":-0.0,"state":{"seq":18446744073709551615,"snapshot_seq":0,"cost_usd":1E+2}}`,
		`{"v":1,"kind":"x","time":"2026-01-02T03:04:05.123456789+01:00","state":{"created_at":null,"updated_at":"2026-01-02T03:04:05Z"}}`,
		`{"v":1,"kind":"x","repair":true,"repair":null,"result":{"is_error":false}}`,
		`{"v":1,"kind":"interrupted","interrupt":{"id":"a","schema":{"type":"object","x":[1,2.5,true,false,null,"\u00e9"]},"default":null,"deadline":"2026-01-01T00:00:00Z"}}`,
		`{"v":1,"kind":"answered","answer":{"id":"a","value":  [ ] ,"approved":true,"defaulted":true,"reason":"r"}}`,
		`{"v":1,"kind":"event_received","event":{"name":"e","data":"s"},"budget":{"max_steps":3,"max_cost_usd":0.5,"wind_down":true}}`,
		`{"v":1,"kind":"snapshot","state":{"calls":[null,{"call":{"id":"c"},"result":{"content":"x"}}],"interrupts":[null],"queued":[null],"answered":[null,"a"],"usage":null,"budget":null}}`,
		`{"v":1,"kind":"x","response":{"message":null,"usage":null}}`,
	}
	for _, s := range fastOK {
		require.True(t, checkFast(t, []byte(s)), "%s", s)
	}
	fallBack := []string{
		``, `null`, `[]`, `"x"`, `{`, `{"v":1,"kind":"x"} x`, `{"v":1,"kind":"x"}{}`, `{"v":1,"kind":"x",}`,
		`{"v":1,,"kind":"x"}`, `{"v":1 "kind":"x"}`, `{"V":1,"kind":"x"}`, `{"Kind":"x","v":1}`, `{"v":1,"kind":"x","unknown":1}`,
		`{"v":1,"kind":"x","call":{"INDEX":1}}`, `{"v":1,"kind":"x","\u006bind":"y"}`, `{"v":1.0,"kind":"x"}`, `{"v":1e0,"kind":"x"}`,
		`{"v":01,"kind":"x"}`, `{"v":-,"kind":"x"}`, `{"v":9223372036854775808,"kind":"x"}`, `{"v":"1","kind":"x"}`,
		`{"v":1,"kind":1}`, `{"v":1,"kind":"x","repair":"true"}`, `{"v":1,"kind":"x","cost_usd":1e400}`,
		`{"v":1,"kind":"x","state":{"seq":-1}}`, `{"v":1,"kind":"x","state":{"seq":-0}}`, `{"v":1,"kind":"x","time":"yesterday"}`,
		`{"v":1,"kind":"x","time":12}`, `{"v":1,"kind":"x","time":"2026-01-02T03:04:05\u002b01:00"}`,
		"{\"v\":1,\"kind\":\"a\x01b\"}", `{"v":1,"kind":"\x"}`, `{"v":1,"kind":"\u12"}`, `{"v":1,"kind":"\'"}`,
		`{"v":1,"kind":"x","input":[],"input":[]}`, `{"v":1,"kind":"x","labels":{},"labels":{}}`,
		`{"v":1,"kind":"x","input":[1]}`, `{"v":1,"kind":"x","trimmed":[1,]}`, `{"v":1,"kind":"x","trimmed":[,1]}`,
		`{"v":1,"kind":"x","labels":{"a":1}}`, `{"v":1,"kind":"x","answer":{"value":[1,}}`, `{"v":1,"kind":"x","answer":{"value":tru}}`,
		`{"v":1,"kind":"x","answer":{"value":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}}`,
		"\xef\xbb\xbf{\"v\":1,\"kind\":\"x\"}",
	}
	for _, s := range fallBack {
		require.False(t, checkFast(t, []byte(s)), "%s", s)
	}
}

// TestDecodeRecordFallsBack checks that DecodeRecord gives encoding/json's
// answer for records the fast path does not take.
func TestDecodeRecordFallsBack(t *testing.T) {
	t.Parallel()
	r, err := ratchet.DecodeRecord(3, []byte(`{"V":1,"KIND":"run_completed","Output":"ok","extra":{"a":[1]}}`))
	require.NoError(t, err)
	require.Equal(t, &ratchet.Record{Version: 1, Kind: ratchet.RecRunCompleted, Output: "ok", Seq: 3}, r)
	_, err = ratchet.DecodeRecord(3, []byte(`{"v":1,"kind":"x"} trailing`))
	require.ErrorIs(t, err, ratchet.ErrCorruptLog)
	_, err = ratchet.DecodeRecord(3, []byte(`{"v":1,"kind":"x","step":1.5}`))
	require.ErrorIs(t, err, ratchet.ErrCorruptLog)
}

// FuzzDecodeRecordFast: for arbitrary bytes the fast-path decoder either
// gives up or agrees with encoding/json.
func FuzzDecodeRecordFast(f *testing.F) {
	for i := range 14 {
		r := &ratchet.Record{Version: 1, Kind: ratchet.RecordKind(fmt.Sprint("k", i)), Time: time.Unix(int64(i)*1e6, int64(i)).UTC(), Step: i}
		b, err := json.Marshal(r)
		require.NoError(f, err)
		f.Add(b)
	}
	var full ratchet.Record
	fillNonZero(&testing.T{}, reflect.ValueOf(&full).Elem())
	b, err := json.Marshal(&full)
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte(`{"v":1,"kind":"x","labels":{"\ud83c":"\xff"},"trimmed":[1,null],"state":{"messages":[{"content":"\u00e9\"\\"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, data)
	})
}

// BenchmarkDecodeRecord compares the fast-path decoder (DecodeRecord) with
// encoding/json on the snapshot record of a 1,000-step run (~230 KB) and on
// a tool_finished record.
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
	snap, err := json.Marshal(&ratchet.Record{Version: 1, Kind: ratchet.RecSnapshot, State: &s})
	require.NoError(b, err)
	for _, c := range []struct {
		name string
		data []byte
	}{{"snapshot", snap}, {"tool_finished", tool}} {
		b.Run(c.name+"/fast", func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ratchet.DecodeRecord(1, c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/encoding_json", func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				var r ratchet.Record
				if err := json.Unmarshal(c.data, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
