package ratchet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

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
