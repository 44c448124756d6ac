package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fuzzInner struct {
	Name string   `json:"name" jsonschema:"minLength=1,maxLength=8"`
	Tags []string `json:"tags,omitempty" jsonschema:"uniqueItems=true"`
}

type fuzzEmbedded struct {
	X string `json:"x,omitempty"`
}

// fuzzArgs exercises every kind of field For reflects.
type fuzzArgs struct {
	fuzzEmbedded
	S   string          `json:"s"`
	I   int             `json:"i,omitempty"`
	U8  uint8           `json:"u8,omitempty"`
	F   float64         `json:"f,omitempty" jsonschema:"minimum=-10"`
	B   bool            `json:"b,omitempty"`
	E   string          `json:"e,omitempty" jsonschema:"enum=x,enum=y"`
	P   *fuzzInner      `json:"p,omitempty"`
	L   []fuzzInner     `json:"l,omitempty" jsonschema:"maxItems=3"`
	M   map[string]int  `json:"m,omitempty"`
	A   any             `json:"a,omitempty"`
	R   json.RawMessage `json:"r,omitempty"`
	T   time.Time       `json:"t,omitempty"`
	D   []byte          `json:"d,omitempty"`
	N   *string         `json:"n,omitempty" jsonschema:"nullable"`
	Arr [2]int          `json:"arr,omitempty"`
	Pat string          `json:"pat,omitempty" jsonschema:"pattern=^[a-z]+$"`
}

// comboSchema leans on anyOf, oneOf, allOf, not, if/then and recursion.
const comboSchema = `{
	"$defs": {"Node": {
		"type": "object",
		"properties": {
			"v": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 3}]},
			"next": {"oneOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
			"kind": {"enum": ["a", "b", 1, null]},
			"tags": {"type": "array", "items": {"not": {"type": "object"}}, "uniqueItems": true}
		},
		"additionalProperties": false,
		"if": {"required": ["kind"]}, "then": {"required": ["v"]}
	}},
	"anyOf": [
		{"$ref": "#/$defs/Node"},
		{"type": "array", "items": {"$ref": "#/$defs/Node"}},
		{"allOf": [{"type": "number"}, {"minimum": 0}]}
	]
}`

// fuzzSeeds are hand-written inputs: valid and invalid arguments, and
// syntax edge cases.
func fuzzSeeds() []string {
	return []string{
		`{"s":""}`,
		`{"s":"x","i":3,"u8":255,"f":-10,"b":true,"e":"y","x":"emb"}`,
		`{"s":"x","p":{"name":"n","tags":["a","b"]},"l":[{"name":"a"},{"name":"b","tags":[]}]}`,
		`{"s":"x","m":{"a":1,"b":-2},"a":[1,{"b":null}],"r":{"raw":true}}`,
		`{"s":"x","t":"2024-02-29T23:59:59.999999999-07:00","d":"aGVsbG8gd29ybGQ=","n":null}`,
		`{"s":"x","arr":[1,2],"pat":"abc","n":"str"}`,
		`{"s":"\u00e9\ud83d\ude00\\\"\/\b\f\n\r\t","pat":"a"}`,
		`{"s":"x","i":3.0}`,
		`{"s":"x","i":1e400}`,
		`{"s":"x","u8":256}`,
		`{"s":"x","f":-10.000000000000000001}`,
		`{"s":"x","e":"z"}`,
		`{"s":"x","p":{"name":""}}`,
		`{"s":"x","p":{"name":"x","tags":["a","a"]}}`,
		`{"s":"x","l":[{},{},{},{}]}`,
		`{"s":"x","t":"2024-02-30T00:00:00Z"}`,
		`{"s":"x","t":"2024-01-01T00:00:00\u005a"}`,
		`{"s":"x","d":"aGVsbG8"}`,
		`{"s":"x","arr":[1]}`,
		`{"s":"x","pat":"ABC"}`,
		`{"S":"x"}`,
		`{"s":"x","s":1}`,
		`{"s":"x",}`,
		`{"s":"x"} {}`,
		`{"s":"x"`,
		`{"s":"\x"}`,
		`{"s":"\ud800"}`,
		`{"s":"` + "\xff\xfe" + `"}`,
		"{\"s\":\"a\x00\"}",
		`[` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `]`,
		`-`, `-0`, `0.`, `1e`, `1e+`, `01`, `.5`, `tru`, `nul`, `"`, `"\u12"`, `{"a"}`, `{"a":1,}`, `[1,]`, `[1 2]`,
		``, ` `, `null`, `true`, `"s"`, `[]`, `{}`,
		`{"v":1,"next":{"v":"abc","next":null,"kind":"a","tags":[1,"1",[1]]}}`,
		`[{"kind":1},{"next":{"next":{"v":"abcd"}}}]`,
		`{"next":{"next":{"v":[`, `-1.5`, `2e3`,
	}
}

// FuzzValidate checks that Validate never panics, that it accepts exactly
// the JSON encoding/json accepts and words syntax errors the same way, that
// it agrees with the reference validator (refValid), and that whatever it
// accepts against For[fuzzArgs] decodes into fuzzArgs with
// DisallowUnknownFields. The one documented exception is a number that
// JSON Schema accepts but the Go field cannot hold (3.0 or 1e400 for an
// int, 1e400 for a float64).
func FuzzValidate(f *testing.F) {
	for _, s := range append(fuzzSeeds(), refSeeds()...) {
		f.Add([]byte(s))
	}
	schema, err := For[fuzzArgs]()
	require.NoError(f, err)
	v, err := Compile(schema)
	require.NoError(f, err)
	anything := compile(f, `true`)
	combo := compile(f, comboSchema)
	ref := compile(f, refSchema)

	f.Fuzz(func(t *testing.T, data []byte) {
		syntaxOnly := anything.Validate(data)
		if json.Valid(data) {
			require.NoError(t, syntaxOnly)
		} else {
			checkSyntaxError(t, data, syntaxOnly)
		}

		// Alternatives scan values in their own way; syntax errors must not
		// depend on it.
		comboErr := combo.Validate(data)
		if !json.Valid(data) {
			require.Equal(t, syntaxOnly, comboErr)
		} else if comboErr != nil {
			var verr *Error
			require.ErrorAs(t, comboErr, &verr)
			require.NotEqual(t, "syntax", verr.Violations[0].Keyword)
		}

		checkReference(t, ref, data)

		err := v.Validate(data)
		if err != nil {
			var verr *Error
			require.ErrorAs(t, err, &verr)
			require.NotEmpty(t, verr.Violations)
			require.LessOrEqual(t, len(verr.Violations), MaxViolations)
			if !json.Valid(data) {
				require.Equal(t, syntaxOnly, err)
			} else {
				require.NotEqual(t, "syntax", verr.Violations[0].Keyword)
			}
			for _, viol := range verr.Violations {
				require.NotEmpty(t, viol.Message)
				require.NotEmpty(t, viol.Keyword)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var args fuzzArgs
		if err := dec.Decode(&args); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) && strings.HasPrefix(typeErr.Value, "number") {
				return // JSON Schema's integers and numbers are wider than Go's
			}
			t.Fatalf("Validate accepted %q, but json.Decode fails: %v", data, err)
		}
	})
}

// checkSyntaxError checks that err reports the syntax error encoding/json
// finds in data, with the same words and position.
func checkSyntaxError(t *testing.T, data []byte, err error) {
	t.Helper()
	var verr *Error
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Violations, 1)
	viol := verr.Violations[0]
	require.Equal(t, "syntax", viol.Keyword)
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		require.Equal(t, "invalid JSON: empty input", viol.Message)
		return
	}
	var x any
	stdErr := json.Unmarshal(data, &x)
	var synErr *json.SyntaxError
	require.ErrorAs(t, stdErr, &synErr)
	want, wantOff := synErr.Error(), int(synErr.Offset)-1 // it counts the offending byte as read
	if int(synErr.Offset) == len(data) && (want == "unexpected end of JSON input" ||
		strings.HasPrefix(want, "invalid character ' '") && data[len(data)-1] != ' ') {
		// At the end of the input encoding/json feeds its scanner a space,
		// and so may complain about that space; Validate says what happened.
		want, wantOff = "unexpected end of JSON input", len(data)
	}
	require.Contains(t, viol.Message, ": "+want+"; near: ")
	require.Equal(t, wantOff, viol.Offset)
}

// TestSyntaxMatchesEncodingJSON runs the syntax half of the fuzz property
// over the seeds and some generated inputs.
func TestSyntaxMatchesEncodingJSON(t *testing.T) {
	t.Parallel()

	anything := compile(t, `true`)
	inputs := fuzzSeeds()
	for _, c := range []string{"\x00", "\x1f", " ", "\"", "\\", "/", "'", "\xff", "é", "\u2028", "e", "E", "+", "-", ".", "0", "9", ":", ",", "[", "]", "{", "}"} {
		inputs = append(inputs, `{"a":`+c+`}`, `["`+c+`"]`, `[1`+c+`]`, `"\`+c+`"`, `-`+c, `1.`+c, `1e`+c, `t`+c, `{`+c, `{"a"`+c)
	}
	for _, in := range inputs {
		err := anything.Validate([]byte(in))
		if json.Valid([]byte(in)) {
			require.NoError(t, err, "input %q", in)
			continue
		}
		checkSyntaxError(t, []byte(in), err)
	}
}
