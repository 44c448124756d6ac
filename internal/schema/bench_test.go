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

const benchJSON = `{"a":1,"b":2}`

func BenchmarkValidate(b *testing.B) {
	v, err := Compile([]byte(benchSchema))
	if err != nil {
		b.Fatal(err)
	}
	benchData := []byte(benchJSON)
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
	benchData := []byte(benchJSON)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchData)))
	for b.Loop() {
		var args benchArgs
		if err := json.Unmarshal(benchData, &args); err != nil {
			b.Fatal(err)
		}
	}
}

// orderData is a realistic tool call: nested objects, arrays, a map, a
// timestamp and escapes.
const orderJSON = `{
  "created": "2024-05-01T12:30:00Z",
  "id": 1042,
  "units": "celsius",
  "items": [
    {"name": "widget \"deluxe\"", "count": 3, "price": 19.99},
    {"name": "gadget", "count": 1, "price": 5.5}
  ],
  "tags": ["rush", "gift", "fragile"],
  "ship": {"street": "1 Main St", "city": "Zürich", "zip": "80001"},
  "note": "leave at the door\nthanks",
  "meta": {"priority": 2, "retries": 0},
  "extra": {"source": "chat", "turn": 7},
  "flag": true,
  "matrix": [[1, 2.5], [3, 4]]
}`

func BenchmarkValidateOrder(b *testing.B) {
	schema, err := For[testOrder]()
	if err != nil {
		b.Fatal(err)
	}
	v, err := Compile(schema)
	if err != nil {
		b.Fatal(err)
	}
	orderData := []byte(orderJSON)
	b.ReportAllocs()
	b.SetBytes(int64(len(orderData)))
	for b.Loop() {
		if err := v.Validate(orderData); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalOrder(b *testing.B) {
	orderData := []byte(orderJSON)
	b.ReportAllocs()
	b.SetBytes(int64(len(orderData)))
	for b.Loop() {
		var order testOrder
		if err := json.Unmarshal(orderData, &order); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateInvalid measures the error path: three violations.
func BenchmarkValidateInvalid(b *testing.B) {
	v, err := Compile([]byte(benchSchema))
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"a":"1","c":2}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(data); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	schema, err := For[testOrder]()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(schema); err != nil {
			b.Fatal(err)
		}
	}
}
