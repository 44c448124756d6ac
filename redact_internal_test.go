package ratchet

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const plantedSecret = "sk-planted-0123456789"

// redactNotText lists the string fields of a Record (and what it holds)
// that redactRecord leaves alone, each for a reason: identifiers and
// classifications the runtime makes or matches on, which hold no text of
// a model, a tool or a server (see Redactor). A field added to Record
// later is redacted or listed here, or TestRedactRecordEveryString fails.
var redactNotText = map[string]string{
	"Record.Kind":              "record kind: a constant",
	"Record.Agent":             "agent name: from the application's Config, matched to route runs",
	"Message.Role":             "role: a constant",
	"Response.FinishReason":    "finish reason: a constant",
	"CallRecord.Key":           "idempotency key: run ID, step and index",
	"CallState.Key":            "idempotency key: run ID, step and index",
	"ToolResult.Error":         "result kind: a classification",
	"ErrorInfo.Kind":           "error kind: a classification",
	"PendingInterrupt.ID":      "interrupt ID: step, call, kind and attempt; answers name it",
	"PendingInterrupt.Kind":    "interrupt kind: a constant",
	"AnswerRecord.ID":          "interrupt ID: names the interrupt answered",
	"State.RunID":              "run ID: the store's key",
	"State.Agent":              "agent name: from the application's Config",
	"State.Status":             "status: a constant",
	"State.Answered":           "interrupt IDs",
	"map key of Record.Labels": "label keys are kept (see Redactor)",
	"map key of State.Labels":  "label keys are kept (see Redactor)",
}

// plant sets every string reachable from v (a pointer) to a text holding
// secret, every json.RawMessage to a JSON value holding it (escaped, in a
// string and as an object key), allocates every pointer, and gives every
// slice and map one element. It returns the paths it planted.
func plant(t *testing.T, v reflect.Value, path string, depth int) {
	t.Helper()
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		plant(t, v.Elem(), path, depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			plant(t, v.Field(i), v.Type().Name()+"."+f.Name, depth+1)
		}
	case reflect.String:
		v.SetString("text " + plantedSecret + " text")
	case reflect.Slice:
		if v.Type() == reflect.TypeOf(json.RawMessage(nil)) {
			// \u0073 is "s": the secret written with a JSON escape.
			esc := `\u0073` + plantedSecret[1:]
			v.SetBytes([]byte(`{"a":["` + esc + `",1.50],"` + plantedSecret + `":{"b":"` + plantedSecret + `"}}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		plant(t, v.Index(0), path, depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		plant(t, k, "map key of "+path, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		plant(t, e, path, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	}
}

// findSecret returns the paths of the strings reachable from v that hold
// the secret (raw JSON values decoded, so that escapes count), except the
// exempt ones.
func findSecret(v reflect.Value, path string, depth int, found *[]string) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			findSecret(v.Elem(), path, depth+1, found)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.IsExported() {
				findSecret(v.Field(i), v.Type().Name()+"."+f.Name, depth+1, found)
			}
		}
	case reflect.String:
		if _, exempt := redactNotText[path]; !exempt && strings.Contains(v.String(), plantedSecret) {
			*found = append(*found, path)
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeOf(json.RawMessage(nil)) {
			var x any
			raw := v.Bytes()
			if json.Unmarshal(raw, &x) != nil {
				*found = append(*found, path+" (not JSON: "+string(raw)+")")
				return
			}
			if b, _ := json.Marshal(x); bytes.Contains(b, []byte(plantedSecret)) || bytes.Contains(raw, []byte(plantedSecret)) {
				*found = append(*found, path)
			}
			return
		}
		for i := 0; i < v.Len(); i++ {
			findSecret(v.Index(i), path, depth+1, found)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			findSecret(it.Key(), "map key of "+path, depth+1, found)
			findSecret(it.Value(), path, depth+1, found)
		}
	}
}

var testRedactor = RedactFunc(func(s string) string { return strings.ReplaceAll(s, plantedSecret, "[secret]") })

// TestRedactRecordEveryString plants the secret in every string of a
// Record (every field of every kind at once, the snapshot's State
// included) and finds none after redactRecord, but in the fields listed
// as no text. A new text field that redactRecord misses fails it.
func TestRedactRecordEveryString(t *testing.T) {
	var rec Record
	plant(t, reflect.ValueOf(&rec), "Record", 0)
	var before []string
	findSecret(reflect.ValueOf(&rec), "Record", 0, &before)
	if len(before) < 30 {
		t.Fatalf("planted the secret in only %d places: %v", len(before), before)
	}
	orig, err := json.Marshal(&rec)
	if err != nil {
		t.Fatal(err)
	}

	got := redactRecord(testRedactor, &rec)
	var found []string
	findSecret(reflect.ValueOf(got), "Record", 0, &found)
	if len(found) > 0 {
		t.Fatalf("redactRecord left the secret in %d fields: %v", len(found), found)
	}
	// The exempt fields are kept as they were, and the label keys.
	if got.Kind != rec.Kind || got.Interrupt.ID != rec.Interrupt.ID || got.Answer.ID != rec.Answer.ID || got.Error.Kind != rec.Error.Kind {
		t.Fatal("redactRecord changed an identifier")
	}
	for k := range rec.Labels {
		if _, ok := got.Labels[k]; !ok {
			t.Fatalf("label key %q lost", k)
		}
	}
	// Redacted JSON stays JSON, with its numbers as written.
	if !json.Valid(got.Answer.Value) || !bytes.Contains(got.Answer.Value, []byte("1.50")) {
		t.Fatalf("answer value after redaction: %s", got.Answer.Value)
	}
	// rec itself is not modified.
	after, err := json.Marshal(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, after) {
		t.Fatal("redactRecord modified its argument")
	}
}

// TestRedactRecordUnchangedShares checks that redacting text without a
// secret keeps the messages and tool calls as they were (no copies on the
// step loop's path).
func TestRedactRecordUnchangedShares(t *testing.T) {
	in := []Message{{Role: RoleUser, Content: "hi", ToolCalls: []ToolCall{{ID: "c1", Name: "t", Arguments: "{}"}}}}
	rec := &Record{Kind: RecRunStarted, Input: in}
	got := redactRecord(testRedactor, rec)
	if &got.Input[0] != &in[0] {
		t.Fatal("clean input messages were copied")
	}
	in[0].ToolCalls[0].Arguments = plantedSecret
	got = redactRecord(testRedactor, rec)
	if &got.Input[0] == &in[0] || got.Input[0].ToolCalls[0].Arguments != "[secret]" || in[0].ToolCalls[0].Arguments != plantedSecret {
		t.Fatalf("a changed message was not copied: %+v", got.Input)
	}
}

// TestRedactJSONNotJSON checks that bytes that are not JSON are redacted
// as text.
func TestRedactJSONNotJSON(t *testing.T) {
	got := redactJSON(testRedactor, json.RawMessage("not json "+plantedSecret))
	if string(got) != "not json [secret]" {
		t.Fatalf("got %s", got)
	}
	clean := json.RawMessage(`{"a": 1}`)
	if got := redactJSON(testRedactor, clean); &got[0] != &clean[0] {
		t.Fatal("clean JSON was encoded again")
	}
}
