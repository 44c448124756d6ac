package schema

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFor(t *testing.T) {
	t.Parallel()

	got, err := For[testWeather]()
	require.NoError(t, err)
	require.JSONEq(t, `{
		"type": "object",
		"properties": {
			"city": {"type": "string", "description": "City name"},
			"units": {"type": "string", "enum": ["celsius", "fahrenheit"]}
		},
		"required": ["city"],
		"additionalProperties": false
	}`, string(got))

	// A pointer to a struct reflects the struct.
	ptr, err := For[*testWeather]()
	require.NoError(t, err)
	require.Equal(t, got, ptr)
}

func TestForAnonymousStruct(t *testing.T) {
	t.Parallel()

	got, err := For[struct {
		Query string `json:"query" jsonschema:"minLength=1"`
		Limit int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=50"`
	}]()
	require.NoError(t, err)
	require.JSONEq(t, `{
		"type": "object",
		"properties": {
			"query": {"type": "string", "minLength": 1},
			"limit": {"type": "integer", "minimum": 1, "maximum": 50}
		},
		"required": ["query"],
		"additionalProperties": false
	}`, string(got))
}

func TestForRequired(t *testing.T) {
	t.Parallel()

	type args struct {
		Plain     string  `json:"plain"`
		Omitted   string  `json:"omitted,omitempty"`
		Zero      string  `json:"zero,omitzero"`
		Forced    string  `json:"forced,omitempty" jsonschema:"required"`
		Pointer   *string `json:"pointer"`
		OptPtr    *string `json:"opt_ptr,omitempty"`
		Nullable  *int    `json:"nullable" jsonschema:"nullable"`
		Untagged  bool
		Skipped   string `json:"-"`
		unexposed string
	}
	got, err := For[args]()
	require.NoError(t, err)
	require.JSONEq(t, `{
		"type": "object",
		"properties": {
			"plain": {"type": "string"},
			"omitted": {"type": "string"},
			"zero": {"type": "string"},
			"forced": {"type": "string"},
			"pointer": {"type": "string"},
			"opt_ptr": {"type": "string"},
			"nullable": {"oneOf": [{"type": "integer"}, {"type": "null"}]},
			"Untagged": {"type": "boolean"}
		},
		"required": ["plain", "forced", "pointer", "nullable", "Untagged"],
		"additionalProperties": false
	}`, string(got))
	_ = args{unexposed: ""}
}

func TestForDefsAndRecursion(t *testing.T) {
	t.Parallel()

	got, err := For[testTree]()
	require.NoError(t, err)
	require.JSONEq(t, `{
		"type": "object",
		"properties": {
			"value": {"type": "integer"},
			"children": {"type": "array", "items": {"$ref": "#"}}
		},
		"required": ["value"],
		"additionalProperties": false
	}`, string(got))

	type wrapper struct {
		Ship *testAddress `json:"ship"`
		Bill testAddress  `json:"bill"`
		When time.Time    `json:"when"`
	}
	got, err = For[wrapper]()
	require.NoError(t, err)
	require.JSONEq(t, `{
		"$defs": {
			"testAddress": {
				"type": "object",
				"properties": {
					"street": {"type": "string"},
					"city": {"type": "string", "minLength": 1, "maxLength": 20},
					"zip": {"type": "string", "pattern": "^[0-9]{5}$"}
				},
				"required": ["street", "city"],
				"additionalProperties": false
			}
		},
		"type": "object",
		"properties": {
			"ship": {"$ref": "#/$defs/testAddress"},
			"bill": {"$ref": "#/$defs/testAddress"},
			"when": {"type": "string", "format": "date-time"}
		},
		"required": ["ship", "bill", "when"],
		"additionalProperties": false
	}`, string(got))
}

type testPage[T any] struct {
	Items []T `json:"items"`
	Next  string
}

func TestForNames(t *testing.T) {
	t.Parallel()

	// A function-local type with the same name as a package-level one.
	type testAddress struct {
		Line string `json:"line"`
	}
	type args struct {
		Page  testPage[testItem] `json:"page"`
		Local testAddress        `json:"local"`
		Outer *testOrder         `json:"outer,omitempty"`
	}
	got, err := For[args]()
	require.NoError(t, err)
	var doc struct {
		Defs       map[string]json.RawMessage `json:"$defs"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(got, &doc))
	names := make([]string, 0, len(doc.Defs))
	for name := range doc.Defs {
		names = append(names, name)
	}
	require.ElementsMatch(t, []string{"testPage_testItem", "testItem", "testAddress", "testAddress_2", "testOrder"}, names)
	require.JSONEq(t, `{"$ref":"#/$defs/testPage_testItem"}`, string(doc.Properties["page"]))
	require.JSONEq(t, `{"$ref":"#/$defs/testAddress"}`, string(doc.Properties["local"]))
	require.Contains(t, string(doc.Defs["testAddress"]), `"line"`)
	require.Contains(t, string(doc.Defs["testAddress_2"]), `"street"`)

	v := compile(t, string(got))
	check(t, v, `{"page":{"items":[{"name":"a","count":1}],"Next":""},"local":{"line":"x"},"outer":{"id":1,"ship":{"street":"s","city":"c"}}}`, "")
	check(t, v, `{"page":{"items":[{"name":"a"}],"Next":""},"local":{"street":"x"}}`,
		"missing required field \"count\" at \"page.items[0]\"\n"+
			"unknown field \"street\" at \"local\"; allowed fields: line\n"+
			"missing required field \"line\" at \"local\"")
}

func TestForIntegerBounds(t *testing.T) {
	t.Parallel()

	type level int8
	type args struct {
		I8    int8     `json:"i8"`
		I16   int16    `json:"i16"`
		I32   int32    `json:"i32"`
		I64   int64    `json:"i64"`
		I     int      `json:"i"`
		U8    uint8    `json:"u8"`
		U16   uint16   `json:"u16"`
		U32   uint32   `json:"u32"`
		U64   uint64   `json:"u64"`
		U     uint     `json:"u"`
		Named level    `json:"named"`
		Tag   uint8    `json:"tag" jsonschema:"minimum=1,maximum=10"`
		List  []uint16 `json:"list"`
		Bytes []byte   `json:"bytes"`
	}
	got, err := For[args]()
	require.NoError(t, err)
	require.JSONEq(t, `{
		"type": "object",
		"properties": {
			"i8": {"type": "integer", "minimum": -128, "maximum": 127},
			"i16": {"type": "integer", "minimum": -32768, "maximum": 32767},
			"i32": {"type": "integer", "minimum": -2147483648, "maximum": 2147483647},
			"i64": {"type": "integer"},
			"i": {"type": "integer"},
			"u8": {"type": "integer", "minimum": 0, "maximum": 255},
			"u16": {"type": "integer", "minimum": 0, "maximum": 65535},
			"u32": {"type": "integer", "minimum": 0, "maximum": 4294967295},
			"u64": {"type": "integer", "minimum": 0},
			"u": {"type": "integer", "minimum": 0},
			"named": {"type": "integer"},
			"tag": {"type": "integer", "minimum": 1, "maximum": 10},
			"list": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65535}},
			"bytes": {"type": "string", "contentEncoding": "base64"}
		},
		"required": ["i8", "i16", "i32", "i64", "i", "u8", "u16", "u32", "u64", "u", "named", "tag", "list", "bytes"],
		"additionalProperties": false
	}`, string(got))
}

func TestForErrors(t *testing.T) {
	t.Parallel()

	_, err := For[int]()
	require.EqualError(t, err, "schema: For[int]: tool arguments must be a struct or a pointer to a struct, got int")
	_, err = For[[]testItem]()
	require.EqualError(t, err, "schema: For[[]schema.testItem]: tool arguments must be a struct or a pointer to a struct, got slice")
	_, err = For[map[string]any]()
	require.EqualError(t, err, "schema: For[map[string]interface {}]: tool arguments must be a struct or a pointer to a struct, got map")
	_, err = For[**testItem]()
	require.EqualError(t, err, "schema: For[*schema.testItem]: tool arguments must be a struct or a pointer to a struct, got ptr")
	_, err = For[time.Time]()
	require.EqualError(t, err, "schema: For[time.Time]: the reflected schema is not an object schema")
}

// TestForCompiles checks that everything For emits for the test types
// compiles.
func TestForCompiles(t *testing.T) {
	t.Parallel()

	for _, schema := range [][]byte{
		mustFor[testWeather](t), mustFor[testOrder](t), mustFor[testTree](t),
		mustFor[testAddress](t), mustFor[testItem](t), mustFor[fuzzArgs](t),
	} {
		_, err := Compile(schema)
		require.NoError(t, err, string(schema))
	}
}
