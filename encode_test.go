package ratchet_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// TestEncodeRecordMatchesEncodingJSON is a differential test: the hand
// encoder and encoding/json decode to the same record, for every record of
// many scripted runs and for awkward strings.
func TestEncodeRecordMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var recs []*ratchet.Record
	for seed := uint64(0); seed < 50; seed++ {
		st := store.NewMemory()
		var c counter
		_, err := newScriptAgent(t, st, genScript(seed).model(t), &c, 5).Run(ctx, "go", nil)
		require.NoError(t, err)
		srs, err := st.Read(ctx, "run", 1)
		require.NoError(t, err)
		for _, sr := range srs {
			r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
			require.NoError(t, err)
			recs = append(recs, r)
		}
	}
	for _, s := range []string{"", "plain", "quote\" back\\ slash", "\x00\x01\x1f ctl \n\r\t", "é ü 日本 🎉", "bad \xff utf8 \xc3", "<html>&amp;", "\u2028\u2029"} {
		recs = append(recs, &ratchet.Record{
			Version: 1, Kind: ratchet.RecToolFinished, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), Step: 3, Active: 5,
			Call:   &ratchet.CallRecord{Index: 1, ID: s, Tool: s, Key: s, Attempt: 2},
			Result: &ratchet.ToolResult{Content: s, IsError: true, Error: s, Duration: 7},
			Error:  &ratchet.ErrorInfo{Kind: s, Message: s},
		}, &ratchet.Record{
			Version: 1, Kind: ratchet.RecModelResponded, Step: 1, Attempt: 3, CostUSD: 0.125, Repair: true,
			Response: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: s, Refusal: s, Name: s, IsError: true,
				ToolCalls: []ratchet.ToolCall{{ID: s, Name: s, Arguments: s}}},
				Usage: ratchet.Usage{CachedInputTokens: 3, ReasoningTokens: 4}, FinishReason: ratchet.FinishLength, Model: s},
		}, &ratchet.Record{Version: 1, Kind: ratchet.RecRepair, Message: &ratchet.Message{Role: ratchet.RoleUser, Content: s}, Summary: s, SummaryUpTo: 3, Output: s, Delay: time.Second},
			&ratchet.Record{Version: 1, Kind: ratchet.RecRunStarted, Agent: s, Input: []ratchet.Message{
				{Role: ratchet.RoleSystem, Content: s},
				{Role: ratchet.RoleUser, Content: s, Name: s},
				{Role: ratchet.RoleAssistant, ToolCalls: []ratchet.ToolCall{{ID: s, Name: s, Arguments: s}, {ID: "2", Name: "n", Arguments: "{}"}}},
				{Role: ratchet.RoleTool, ToolCallID: s, Content: s, IsError: true},
			}})
	}
	for _, r := range recs {
		hand, err := ratchet.EncodeRecord(r)
		require.NoError(t, err)
		require.True(t, json.Valid(hand), "%s", hand)
		std, err := json.Marshal(r)
		require.NoError(t, err)
		var a, b map[string]any
		require.NoError(t, json.Unmarshal(hand, &a))
		require.NoError(t, json.Unmarshal(std, &b))
		require.Equal(t, b, a, "hand: %s\nstd:  %s", hand, std)
	}
}

// TestEncodeRecordKeepsEveryField sets each field of Record in turn and
// checks that it survives EncodeRecord and DecodeRecord: a field added to
// Record but not to the hand encoder fails here.
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
}

// fillNonZero sets v to a non-zero value (recursively for structs,
// pointers, slices and maps).
func fillNonZero(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x\"y")
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
			if v.Type().Field(i).IsExported() && v.Type().Field(i).Tag.Get("json") != "-" {
				fillNonZero(t, v.Field(i))
			}
		}
	case reflect.Interface:
		v.Set(reflect.ValueOf("x"))
	default:
		t.Fatalf("cannot fill %s", v.Type())
	}
}
