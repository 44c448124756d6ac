package schema

import (
	"encoding/json"
	"testing"
)

// benchSchema is two required integer fields, as For reflects benchArgs.
const benchSchema = `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"],"additionalProperties":false}`

type benchArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

var benchData = []byte(`{"a":1,"b":2}`)

func BenchmarkValidate(b *testing.B) {
	v, err := Compile([]byte(benchSchema))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchData)))
	for b.Loop() {
		if err := v.Validate(benchData); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal is the yardstick: decoding the same bytes into the
// struct the schema describes.
func BenchmarkUnmarshal(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchData)))
	for b.Loop() {
		var args benchArgs
		if err := json.Unmarshal(benchData, &args); err != nil {
			b.Fatal(err)
		}
	}
}
